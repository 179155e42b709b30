package stage_test

import (
	"context"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feed is a way for a source to hand on its items: a slice source pushes
// runs of items, which the stages take with PushRun, and a generator pushes
// them one at a time, which they take with Push. Stages must behave the
// same under both.
type feed struct {
	name string
	push func() bool // true: runs
}

var feeds = []feed{{"pushed in runs", func() bool { return true }}, {"pushed one at a time", func() bool { return false }}}

// sourceOf returns a source of vs that feeds them as f says.
func sourceOf[T any](f feed, vs []T) *source.Of[T] {
	if f.push() {
		return source.Slice(vs)
	}
	return source.Func(func(_ context.Context, yield func(T) bool) error {
		for _, v := range vs {
			if !yield(v) {
				return nil
			}
		}
		return nil
	})
}

func TestUnbatch(t *testing.T) {
	for _, f := range feeds {
		t.Run(f.name, func(t *testing.T) {
			t.Run("it undoes a Batch and every source item ends done", func(t *testing.T) {
				for _, maxWait := range []bool{false, true} {
					opts := []stage.Option{}
					if maxWait {
						opts = append(opts, stage.MaxWait(time.Hour))
					}
					var got []int
					st := run(t, pipeline.New(sourceOf(f, ints(200))).
						Via(stage.Batch[int](7, opts...)).
						Via(stage.Unbatch[int]()).
						Sink(sink.Collect(&got)))

					require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					assert.Equal(t, ints(200), got)
					assert.Equal(t, pipeline.Counts{In: 200, Done: 200}, st.Counts, "with MaxWait: %v", maxWait)
				}
			})

			t.Run("it passes on every element in order and drops empty slices", func(t *testing.T) {
				var got []string
				st := run(t, pipeline.New(sourceOf(f, [][]string{{"a", "b"}, {}, {"c"}, nil, {"d", "e", "f"}})).
					Via(stage.Unbatch[string]()).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []string{"a", "b", "c", "d", "e", "f"}, got)
				assert.Equal(t, pipeline.Counts{In: 5, Done: 3, Dropped: 2}, st.Counts)
			})

			t.Run("a slice takes the worst outcome of its elements", func(t *testing.T) {
				// Elements 4 are dropped and elements 3 and 7 skipped.
				var got []int
				st := run(t, pipeline.New(sourceOf(f, [][]int{{0, 1}, {2, 3}, {4, 5}, {6}, {7}, {4}})).
					Via(stage.Unbatch[int]()).
					Filter(func(v int) bool { return v != 4 }).
					Via(stage.Map(func(_ context.Context, v int) (int, error) {
						if v == 3 || v == 7 {
							return 0, errBoom
						}
						return v, nil
					}, stage.OnError(stage.Skip()))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{0, 1, 2, 5, 6}, got)
				// {0,1} and {6} done; {2,3} and {7} skipped; {4,5} done (a
				// dropped element does not spoil the rest); {4} dropped.
				assert.Equal(t, pipeline.Counts{In: 6, Done: 3, Skipped: 2, Dropped: 1}, st.Counts)
			})

			t.Run("a batch split again counts its members once", func(t *testing.T) {
				// Batch, Unbatch, Batch again with another size: the
				// second batches straddle the first ones.
				var got [][]int
				st := run(t, pipeline.New(sourceOf(f, ints(10))).
					Via(stage.Batch[int](4)).
					Via(stage.Unbatch[int]()).
					Via(stage.Batch[int](3)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}}, got)
				assert.Equal(t, pipeline.Counts{In: 10, Done: 10}, st.Counts)
			})

			t.Run("a failing element fails its slice and names the stage after Unbatch", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, [][]int{{0, 1}, {2, 3, 4}, {5}})).
					Via(stage.Unbatch[int]()).
					Via(stage.Map(func(_ context.Context, v int) (int, error) {
						if v == 3 {
							return 0, errBoom
						}
						return v, nil
					}, stage.Name("check"))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeFailure, st.Code)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "check", st.Stage)
				assert.Equal(t, "#3", st.Target, "the Map's fourth item")
				assert.Equal(t, []int{0, 1, 2}, got)
				// A slice source has emitted {5} too, which is abandoned; a
				// generator stops before it.
				c := st.Counts
				assert.EqualValues(t, 1, c.Done)
				assert.EqualValues(t, 1, c.Failed, "{2, 3, 4} failed once, though 2 reached the sink")
				assert.Equal(t, c.In, c.Done+c.Failed+c.Abandoned, "%+v", c)
			})
		})
	}

	t.Run("the chain methods follow it with the element type", func(t *testing.T) {
		var got [][]int
		st := run(t, pipeline.New(source.Slice([][]int{{1, 2, 3}, {4}, {5, 6}})).
			Via(stage.Unbatch[int]()).
			Filter(func(v int) bool { return v != 2 }).
			Batch(2).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]int{{1, 3}, {4, 5}, {6}}, got)
		assert.Equal(t, pipeline.Counts{In: 3, Done: 3}, st.Counts)
	})

	t.Run("a bad option is an invalid stage named in the message", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice([][]int{{1}})).
			Via(stage.Unbatch[int](stage.Every(0))).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"unbatch"`)
		assert.Contains(t, st.Message, "log every must be >= 1, got 0")
	})
}
