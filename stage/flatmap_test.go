package stage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flatMapPanicsOnTwo panics on item 2; the tests look for its name in the
// stack.
func flatMapPanicsOnTwo(_ context.Context, v int) ([]int, error) {
	if v == 2 {
		panic("two")
	}
	return []int{v}, nil
}

// repeat returns v, v times: nothing for 0.
func repeat(_ context.Context, v int) ([]int, error) {
	var out []int
	for range v {
		out = append(out, v)
	}
	return out, nil
}

func TestFlatMap(t *testing.T) {
	t.Run("it passes on every element of every slice in order", func(t *testing.T) {
		var got []string
		st := run(t, pipeline.New(source.Slice([]string{"a b", "c", "d e f"})).
			Via(stage.FlatMap(func(_ context.Context, s string) ([]string, error) { return strings.Fields(s), nil })).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b", "c", "d", "e", "f"}, got)
		assert.EqualValues(t, 3, st.Counts.In)
		assert.EqualValues(t, 3, st.Counts.Done, "a parent is done when all its children are")
	})

	t.Run("empty and nil slices pass nothing on", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice([]int{0, 1, 0, 3, 2, 0})).
			Via(stage.FlatMap(repeat)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{1, 3, 3, 3, 2, 2}, got)
	})

	t.Run("only empty slices make an empty stream", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(4))).
			Via(stage.FlatMap(func(context.Context, int) ([]int, error) { return []int{}, nil })).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.Zero(t, st.Counts.Done)
	})

	t.Run("the pipeline's FlatMap takes a Flat", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice([]int{2, 0, 1})).
			FlatMap(stage.Flat(repeat)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{2, 2, 1}, got)
	})

	t.Run("an error stops the run and names the stage and the item", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.FlatMap(func(_ context.Context, v int) ([]int, error) {
				if v == 3 {
					return []int{99}, errBoom
				}
				return []int{v, v}, nil
			})).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "flatmap", st.Stage)
		assert.Equal(t, "#3", st.Target)
		assert.Equal(t, []int{0, 0, 1, 1, 2, 2}, got, "nothing of a failed item is passed on")
	})

	t.Run("a Label names the failing item", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.FlatMap(func(_ context.Context, v int) ([]int, error) {
				if v == 4 {
					return nil, errBoom
				}
				return nil, nil
			}, stage.Label(label), stage.Name("explode"))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "explode", st.Stage)
		assert.Equal(t, "item 4", st.Target)
	})

	t.Run("a panic is a PanicError with the function in its stack", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Via(stage.FlatMap(flatMapPanicsOnTwo)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "#2", st.Target)
		requirePanic(t, st.Err, "two", "flatMapPanicsOnTwo")
	})

	t.Run("a nil function is an invalid stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(stage.FlatMap[int, int](nil)).Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"flatmap"`)
	})
}
