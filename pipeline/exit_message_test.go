package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failOn is a handler of ints that fails on the items bad says, and
// passes the others on.
func failOn(bad func(int) bool) stage.Proc[int, int] {
	return stage.Func(func(_ context.Context, v int) (int, error) {
		if bad(v) {
			return 0, fmt.Errorf("item %d is bad: %w", v, errBoom)
		}
		return v, nil
	})
}

// sinkFailOn is a sink that fails on the items bad says.
func sinkFailOn(bad func(int) bool) *sink.Of[int] {
	return sink.Func(func(_ context.Context, v int) error {
		if bad(v) {
			return fmt.Errorf("cannot store %d: %w", v, errBoom)
		}
		return nil
	}).Named("store")
}

var dropAll = stage.DeadLetter(func(context.Context, stage.DeadLetterItem) error { return nil })

func TestSuccessMeansEveryItemWasDoneOrDropped(t *testing.T) {
	st := pipeline.New(source.Slice(ints(1000))).
		Filter(func(v int) bool { return v%3 != 0 }).
		Map(failOn(func(int) bool { return false })).
		Sink(sink.Discard[int]()).Run(context.Background())
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, "Success", st.Message, "a Filter's drops are no failure")
	assert.Equal(t, "Success", finishedMessage(t, st))
}

// finishedMessage checks String's seed format and returns the message in it.
func finishedMessage(t *testing.T, st pipeline.ExitStatus) string {
	t.Helper()
	prefix := fmt.Sprintf("Finished with code %d in %.2fs with message: [", st.Code, st.Duration.Seconds())
	s := st.String()
	require.True(t, len(s) > len(prefix)+1 && s[:len(prefix)] == prefix && s[len(s)-1] == ']', "%q", s)
	return s[len(prefix) : len(s)-1]
}

func TestTheMessageSaysWhatFailedUnderAPolicyAndWhere(t *testing.T) {
	for _, workers := range []int{1, 4} {
		for _, ordered := range []bool{false, true} {
			opts := []stage.Option{stage.Name("parse"), stage.OnError(stage.Skip())}
			if ordered {
				opts = append(opts, stage.Ordered())
			}
			t.Run(fmt.Sprintf("%d workers, ordered %v", workers, ordered), func(t *testing.T) {
				// 1,000 items: 10 skipped by parse (a multiple of 100), and
				// 5 dead-lettered by the sink (7, 207, ... 807), under the
				// pipeline's policy.
				st := pipeline.New(source.Slice(ints(1000)), pipeline.OnError(dropAll)).
					ParMap(workers, failOn(func(v int) bool { return v%100 == 0 }), opts...).
					Filter(func(v int) bool { return v%2 == 1 }).
					Sink(sinkFailOn(func(v int) bool { return v%200 == 7 })).
					Run(context.Background())

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.NoError(t, st.Err)
				assert.Equal(t, pipeline.Counts{In: 1000, Done: 495, Dropped: 490, Skipped: 10, DeadLettered: 5}, st.Counts)
				want := `Finished with 10 of 1,000 items skipped (stage 1 "parse": 10) and 5 dead-lettered (stage 3 "store": 5)`
				assert.Equal(t, want, st.Message)
				assert.Equal(t, want, finishedMessage(t, st))
			})
		}
	}
}

func TestTheMessageCountsSourceItems(t *testing.T) {
	t.Run("a dead-lettered batch counts for its members", func(t *testing.T) {
		st := pipeline.New(source.Slice(ints(10)), pipeline.OnError(dropAll)).
			Batch(3).
			Map(stage.Func(func(_ context.Context, b []int) (int, error) {
				if b[0] == 3 {
					return 0, errBoom
				}
				return len(b), nil
			}), stage.Name("sum")).
			Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, `Finished with 3 of 10 items dead-lettered (stage 2 "sum": 3)`, st.Message)
	})
	t.Run("a FlatMap parent counts once, in the stage of its failed child", func(t *testing.T) {
		st := pipeline.New(source.Slice([]string{"a b", "c d e", "f"}), pipeline.OnError(stage.Skip())).
			FlatMap(stage.Flat(words)).
			Map(stage.Func(func(_ context.Context, w string) (string, error) {
				if w == "d" || w == "e" {
					return "", errBoom
				}
				return w, nil
			}), stage.Name("check"), stage.Label(strconv.Quote)).
			Sink(sink.Discard[string]()).Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, pipeline.Counts{In: 3, Done: 2, Skipped: 1}, st.Counts)
		assert.Equal(t, `Finished with 1 of 3 items skipped (stage 2 "check": 1)`, st.Message)
	})
	t.Run("skipped in several stages", func(t *testing.T) {
		st := pipeline.New(source.Slice(ints(2500)), pipeline.OnError(stage.Skip())).
			Map(failOn(func(v int) bool { return v%1000 == 1 }), stage.Name("a")).
			Map(failOn(func(v int) bool { return v%1000 == 2 }), stage.Name("b")).
			Sink(sinkFailOn(func(v int) bool { return v == 3 })).
			Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, `Finished with 7 of 2,500 items skipped (stage 1 "a": 3, stage 2 "b": 3, stage 3 "store": 1)`, st.Message)
	})
}

// ints returns 0, 1, ... n-1.
func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// A FlatMap parent whose children fail in several ways is counted with
// the worst, in the stage where that one failed.
func TestAFlatMapParentIsCountedWhereItsWorstChildFailed(t *testing.T) {
	dl := stage.DeadLetter(func(context.Context, stage.DeadLetterItem) error { return nil })
	st := pipeline.New(source.Slice([]string{"a b c"}), pipeline.OnError(stage.Skip())).
		FlatMap(stage.Flat(words)).
		Map(stage.Func(func(_ context.Context, w string) (string, error) {
			if w == "a" {
				return "", errBoom // skipped
			}
			return w, nil
		}), stage.Name("first")).
		Map(stage.Func(func(_ context.Context, w string) (string, error) {
			if w == "c" {
				return "", errBoom // dead-lettered: worse
			}
			return w, nil
		}), stage.Name("second"), stage.OnError(dl)).
		Sink(sink.Discard[string]()).Run(context.Background())
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, pipeline.Counts{In: 1, DeadLettered: 1}, st.Counts)
	assert.Equal(t, `Finished with 1 of 1 items dead-lettered (stage 3 "second": 1)`, st.Message)
}
