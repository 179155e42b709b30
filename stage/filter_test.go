package stage_test

import (
	"context"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// filterPanicsOnFive panics on item 5; the tests look for its name in the
// stack.
func filterPanicsOnFive(_ context.Context, v int) (bool, error) {
	if v == 5 {
		panic("five")
	}
	return true, nil
}

func even(_ context.Context, v int) (bool, error) { return v%2 == 0, nil }

func TestFilter(t *testing.T) {
	t.Run("it keeps matching items in order and counts the rest as dropped", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(11))).
			Via(stage.Filter(even)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 2, 4, 6, 8, 10}, got)
		assert.EqualValues(t, 11, st.Counts.In)
		assert.EqualValues(t, 6, st.Counts.Done)
		assert.EqualValues(t, 5, st.Counts.Dropped)
	})

	t.Run("dropping everything succeeds with nothing done", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Via(stage.Filter(func(context.Context, int) (bool, error) { return false, nil })).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.EqualValues(t, 5, st.Counts.Dropped)
		assert.Zero(t, st.Counts.Done)
	})

	t.Run("an error stops the run and names the stage and the item", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Filter(func(_ context.Context, v int) (bool, error) {
				if v == 6 {
					return false, errBoom
				}
				return true, nil
			}, stage.Name("evens"))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "evens", st.Stage)
		assert.Equal(t, "#6", st.Target)
		assert.EqualValues(t, 6, st.Counts.Done)
		assert.Zero(t, st.Counts.Dropped, "a failed item is not a dropped one")
	})

	t.Run("a Label names the failing item", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Filter(func(_ context.Context, v int) (bool, error) {
				if v == 2 {
					return false, errBoom
				}
				return true, nil
			}, stage.Label(label))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "filter", st.Stage)
		assert.Equal(t, "item 2", st.Target)
	})

	t.Run("a panic is a PanicError with the function in its stack", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Filter(filterPanicsOnFive)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "filter", st.Stage)
		assert.Equal(t, "#5", st.Target)
		requirePanic(t, st.Err, "five", "filterPanicsOnFive")
	})

	t.Run("a nil function is an invalid stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(stage.Filter[int](nil)).Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"filter"`)
		assert.Contains(t, st.Message, "nil filter function")
	})
}
