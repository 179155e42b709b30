package sink_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

var errBoom = errors.New("boom")

// upTo returns 0, 1, ... n-1.
func upTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestFunc(t *testing.T) {
	t.Run("it is called for each item, in order", func(t *testing.T) {
		var got []int
		f := sink.Func(func(_ context.Context, v int) error {
			got = append(got, v)
			return nil
		})
		st := pipeline.New(source.Slice(upTo(100))).Sink(f).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, upTo(100), got)
		assert.Equal(t, int64(100), st.Counts.Done)
	})

	t.Run("an error fails the run with code 1, naming the sink and the item", func(t *testing.T) {
		var got []int
		f := sink.Func(func(_ context.Context, v int) error {
			if v == 2 {
				return errBoom
			}
			got = append(got, v)
			return nil
		})
		st := pipeline.New(source.Slice([]int{0, 1, 2, 3, 4})).Sink(f).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "sink", st.Stage)
		assert.Equal(t, "#2", st.Target)
		assert.Equal(t, []int{0, 1}, got)
		// Only items the sink accepted count as done; the failed one counts
		// as failed.
		assert.Equal(t, int64(2), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Failed)

		var se *stage.Error
		require.ErrorAs(t, st.Err, &se)
		assert.Equal(t, 1, se.Index, "the sink follows the source directly")
	})

	t.Run("the item label counts what the sink received, after any filter", func(t *testing.T) {
		f := sink.Func(func(_ context.Context, v int) error {
			if v == 6 {
				return errBoom
			}
			return nil
		})
		st := pipeline.New(source.Slice(upTo(10))).
			Filter(func(v int) bool { return v%2 == 0 }).
			Sink(f).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		// 6 is the sink's fourth item: 0, 2, 4, 6.
		assert.Equal(t, "#3", st.Target)
		var se *stage.Error
		require.ErrorAs(t, st.Err, &se)
		assert.Equal(t, 2, se.Index)
	})

	t.Run("a panic becomes a PanicError with its stack", func(t *testing.T) {
		f := sink.Func(func(context.Context, int) error { panic("sink exploded") })
		st := pipeline.New(source.Slice([]int{1})).Sink(f).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "sink", st.Stage)
		var pe *stage.PanicError
		require.ErrorAs(t, st.Err, &pe)
		assert.Equal(t, "sink exploded", pe.Value)
		assert.Contains(t, string(pe.Stack), "sink_test.TestFunc")
	})

	t.Run("a skip policy drops the failed item and carries on", func(t *testing.T) {
		var got []int
		f := sink.Func(func(_ context.Context, v int) error {
			if v%3 == 0 {
				return errBoom
			}
			got = append(got, v)
			return nil
		})
		st := pipeline.New(source.Slice(upTo(9)), pipeline.OnError(stage.Skip())).Sink(f).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{1, 2, 4, 5, 7, 8}, got)
		assert.Equal(t, int64(6), st.Counts.Done)
		assert.Equal(t, int64(3), st.Counts.Skipped)
	})

	for _, ordered := range []bool{false, true} {
		for _, workers := range []int{1, 8} {
			t.Run(fmt.Sprintf("it is never called concurrently after a ParMap of %d workers, ordered %v", workers, ordered), func(t *testing.T) {
				const n = 2000
				var busy, overlaps atomic.Int32
				var sum int // unguarded on purpose: -race reports concurrent calls
				f := sink.Func(func(_ context.Context, v int) error {
					if busy.Add(1) > 1 {
						overlaps.Add(1)
					}
					sum += v
					busy.Add(-1)
					return nil
				})
				opts := []stage.Option{}
				if ordered {
					opts = append(opts, stage.Ordered())
				}
				double := stage.Func(func(_ context.Context, v int) (int, error) { return 2 * v, nil })
				st := pipeline.New(source.Slice(upTo(n))).ParMap(workers, double, opts...).Sink(f).Run(t.Context())

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Zero(t, overlaps.Load())
				assert.Equal(t, n*(n-1), sum)
				assert.Equal(t, int64(n), st.Counts.Done)
			})
		}
	}

	t.Run("a nil function makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Slice([]int{1})).Sink(sink.Func[int](nil)).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil sink function")
		assert.Zero(t, st.Counts.In, "nothing runs")
	})

	t.Run("Named renames the sink in errors and leaves the original alone", func(t *testing.T) {
		f := sink.Func(func(context.Context, int) error { return errBoom })
		named := f.Named("store")
		st := pipeline.New(source.Slice([]int{1})).Sink(named).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "store", st.Stage)
		assert.Contains(t, st.Message, `"store"`)
		assert.Equal(t, "sink", f.Name())
	})

	t.Run("one sink value serves several pipelines", func(t *testing.T) {
		var total atomic.Int64
		f := sink.Func(func(_ context.Context, v int) error {
			total.Add(int64(v))
			return nil
		})
		a := pipeline.New(source.Slice([]int{1, 2})).Sink(f)
		b := pipeline.New(source.Slice([]int{10, 20})).Sink(f)

		require.Equal(t, pipeline.CodeSuccess, a.Run(t.Context()).Code)
		require.Equal(t, pipeline.CodeSuccess, b.Run(t.Context()).Code)
		assert.Equal(t, int64(33), total.Load())
	})
}

func TestTypeMismatch(t *testing.T) {
	t.Run("a sink of another type than the source makes an invalid pipeline naming both types", func(t *testing.T) {
		var got []string
		st := pipeline.New(source.Slice([]int{1, 2})).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "string")
		assert.Contains(t, st.Message, "int")
		assert.Contains(t, st.Message, `"collect"`)
		assert.Contains(t, st.Message, `"slice"`)
		assert.Empty(t, got)
		assert.Zero(t, st.Counts.In, "nothing runs")

		var be *stage.BuildError
		require.ErrorAs(t, st.Err, &be)
		assert.Equal(t, "collect", be.Stage)
		assert.Equal(t, 1, be.Index)
	})

	t.Run("a sink of another type than the last stage names that stage", func(t *testing.T) {
		toFloat := stage.Map(func(_ context.Context, v int) (float64, error) { return float64(v), nil })
		st := pipeline.New(source.Slice([]int{1})).Via(toFloat).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "float64")
		assert.Contains(t, st.Message, `"map"`)
		assert.Contains(t, st.Message, `"discard"`)
	})
}
