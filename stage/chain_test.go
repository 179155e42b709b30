package stage_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func itoa(_ context.Context, v int) (string, error) { return strconv.Itoa(v), nil }

func length(_ context.Context, s string) (int, error) { return len(s), nil }

func TestChain(t *testing.T) {
	t.Run("it composes typed stages into one", func(t *testing.T) {
		c := stage.Chain(stage.Map(itoa, stage.Name("a")), stage.Map(length, stage.Name("b")))
		require.NoError(t, c.Err())
		assert.Equal(t, "a+b", c.Name())
		assert.Equal(t, "int", c.In().String())
		assert.Equal(t, "int", c.Out().String())

		var got []int
		st := run(t, pipeline.New(source.Slice([]int{7, 42, 100, 5})).Via(c).Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{1, 2, 3, 1}, got)
	})

	for _, ord := range orderings {
		t.Run("it composes concurrent and sequential stages, "+ord.name, func(t *testing.T) {
			c := stage.Chain(
				stage.Chain(stage.Filter(even), stage.ParMap(4, stage.Func(skewed), ord.opts()...)),
				stage.Batch[int](3),
			)
			var got [][]int
			st := run(t, pipeline.New(source.Slice(ints(20))).Via(c).Sink(sink.Collect(&got)))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, "filter+parmap+batch", c.Name())
			var flat []int
			for _, b := range got {
				flat = append(flat, b...)
			}
			want := []int{0, 20, 40, 60, 80, 100, 120, 140, 160, 180}
			if ord.ordered {
				assert.Equal(t, [][]int{{0, 20, 40}, {60, 80, 100}, {120, 140, 160}, {180}}, got)
			} else {
				assert.ElementsMatch(t, want, flat)
			}
			assert.EqualValues(t, 10, st.Counts.Dropped)
		})
	}

	t.Run("a chain is reusable across pipelines", func(t *testing.T) {
		c := stage.Chain(stage.Map(itoa), stage.Map(length))
		for range 3 {
			var got []int
			st := run(t, pipeline.New(source.Slice([]int{1, 10})).Via(c).Sink(sink.Collect(&got)))
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, []int{1, 2}, got)
		}
	})

	t.Run("an error in the second stage names it inside the chain", func(t *testing.T) {
		second := stage.Map(func(_ context.Context, s string) (int, error) {
			if s == "3" {
				return 0, errBoom
			}
			return len(s), nil
		}, stage.Name("b"))
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.Chain(stage.Map(itoa, stage.Name("a")), second)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "a+b/b", st.Stage)
		assert.Equal(t, "#3", st.Target)
		var se *stage.Error
		if assert.ErrorAs(t, st.Err, &se) {
			assert.Equal(t, "a+b/b", se.Stage)
			assert.Equal(t, 1, se.Index, "an inner stage has the chain's position")
		}
	})

	t.Run("an error in the first stage names it inside the chain", func(t *testing.T) {
		first := stage.Map(func(_ context.Context, v int) (string, error) {
			if v == 2 {
				return "", errBoom
			}
			return strconv.Itoa(v), nil
		}, stage.Name("a"))
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.Chain(first, stage.Map(length, stage.Name("b")))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "a+b/a", st.Stage)
		assert.Equal(t, "#2", st.Target)
	})

	t.Run("an error in a ParMap inside a chain names it", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(20))).
			Via(stage.Chain(stage.Map(itoa, stage.Name("a")),
				stage.ParMap(4, stage.Func(func(_ context.Context, s string) (int, error) {
					if s == "13" {
						return 0, errBoom
					}
					return len(s), nil
				}), stage.Name("inner")))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "a+inner/inner", st.Stage)
		assert.Equal(t, "#13", st.Target)
	})

	t.Run("an invalid inner stage makes an invalid chain naming it", func(t *testing.T) {
		c := stage.Chain(stage.Batch[int](0, stage.Name("a")), stage.Map(func(_ context.Context, b []int) (int, error) { return len(b), nil }, stage.Name("b")))
		assert.Error(t, c.Err())
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(c).Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"a+b"`)
		assert.Contains(t, st.Message, "a: batch size must be >= 1")
	})

	t.Run("a nil stage makes an invalid chain", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Chain[int, string, int](nil, stage.Map(length))).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "nil stage")
	})

	t.Run("the pipeline's chain methods follow a chain", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(12))).
			Via(stage.Chain(stage.Map(itoa), stage.Map(length))).
			Filter(func(v int) bool { return v == 2 }).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{2, 2}, got)
	})
}
