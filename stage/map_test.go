package stage_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mapPanicsOnThree is a Map function that panics on item 3; the tests look
// for its name in the PanicError's stack.
func mapPanicsOnThree(_ context.Context, v int) (int, error) {
	if v == 3 {
		panic("three is not allowed")
	}
	return v, nil
}

func TestMap(t *testing.T) {
	t.Run("it applies the function to every item in order", func(t *testing.T) {
		var got []string
		st := run(t, pipeline.New(source.Slice(ints(50))).
			Via(stage.Map(func(_ context.Context, v int) (string, error) { return "n" + strconv.Itoa(v), nil })).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 50)
		for i, s := range got {
			assert.Equal(t, "n"+strconv.Itoa(i), s)
		}
		assert.EqualValues(t, 50, st.Counts.In)
		assert.EqualValues(t, 50, st.Counts.Done)
	})

	t.Run("an empty input calls nothing and succeeds", func(t *testing.T) {
		calls := 0
		st := run(t, pipeline.New(source.Slice([]int{})).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { calls++; return v, nil })).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Zero(t, calls)
	})

	t.Run("an error stops the run and names the stage and the item", func(t *testing.T) {
		var calls []int
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Map(func(_ context.Context, v int) (int, error) {
				calls = append(calls, v)
				if v == 4 {
					return 0, errBoom
				}
				return v, nil
			})).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "map", st.Stage)
		assert.Equal(t, "#4", st.Target)
		var se *stage.Error
		if assert.ErrorAs(t, st.Err, &se) {
			assert.Equal(t, "map", se.Stage)
			assert.Equal(t, 1, se.Index, "the stage right after the source is at index 1")
			assert.Equal(t, "#4", se.Label)
		}
		assert.Equal(t, []int{0, 1, 2, 3}, got, "items after the failure never reach the sink")
		assert.Equal(t, ints(5), calls, "items after the failure are not handled")
		assert.EqualValues(t, 1, st.Counts.Failed)
		assert.EqualValues(t, 4, st.Counts.Done)
	})

	t.Run("the item label counts the stage's own input", func(t *testing.T) {
		// The Filter before the Map drops odd numbers, so the value 6 is the
		// Map's fourth item, #3.
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Filter(func(v int) bool { return v%2 == 0 }).
			Via(stage.Map(func(_ context.Context, v int) (int, error) {
				if v == 6 {
					return 0, errBoom
				}
				return v, nil
			}, stage.Name("halve"))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "halve", st.Stage)
		assert.Equal(t, "#3", st.Target)
		var se *stage.Error
		if assert.ErrorAs(t, st.Err, &se) {
			assert.Equal(t, 2, se.Index)
		}
	})

	t.Run("a Label names the failing item", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Map(func(_ context.Context, v int) (int, error) {
				if v == 7 {
					return 0, errBoom
				}
				return v, nil
			}, stage.Label(label))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "item 7", st.Target)
		assert.Contains(t, st.Message, `"item 7"`)
	})

	t.Run("a panicking Label falls back to the #N label", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Map(failOn(func(v int) bool { return v == 7 }), stage.Label(func(int) string { panic("no label") }))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom, "the item's error is reported, not the label's panic")
		assert.Equal(t, "#7", st.Target)
	})

	t.Run("a PerWorker handler given to the pipeline's Map gets one worker", func(t *testing.T) {
		l := &lifecycle{}
		var got []int
		st := run(t, pipeline.New(source.Slice(items1(20))).
			Map(l.proc()).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		want := make([]int, 20)
		for i := range want {
			want[i] = 2 * (i + 1)
		}
		assert.Equal(t, want, got, "Map keeps input order")
		assert.Equal(t, []int{1}, l.inits)
		assert.Equal(t, map[int]int{1: 1}, l.closes)
		assert.Equal(t, "map.worker-1", l.loggerNames[1])
	})

	t.Run("a panic is a PanicError with the function in its stack", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Map(mapPanicsOnThree)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "map", st.Stage)
		assert.Equal(t, "#3", st.Target)
		requirePanic(t, st.Err, "three is not allowed", "mapPanicsOnThree")
	})

	t.Run("a panic with an error is seen through by errors.Is", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { panic(errBoom) })).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		var pe *stage.PanicError
		assert.ErrorAs(t, st.Err, &pe)
	})

	t.Run("a nil function is an invalid stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Map[int, int](nil, stage.Name("nothing"))).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"nothing"`)
		assert.Contains(t, st.Message, "nil handler")
	})

	t.Run("a label for another type is an invalid stage naming both types", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil }, stage.Label(func(s string) string { return s }))).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "func(string) string")
		assert.Contains(t, st.Message, "int")
	})

	t.Run("the context given to the function is the run's", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := pipeline.New(source.Slice(ints(10))).
			Via(stage.Map(func(ctx context.Context, v int) (int, error) {
				if v == 2 {
					cancel()
					<-ctx.Done()
					return 0, ctx.Err()
				}
				return v, nil
			})).
			Sink(sink.Discard[int]()).
			Run(ctx)

		assert.Equal(t, pipeline.CodeFailure, st.Code)
		assert.True(t, errors.Is(st.Err, context.Canceled), "got %v", st.Err)
		assert.Zero(t, st.Counts.Failed, "an item abandoned by a cancellation did not fail")
	})
}
