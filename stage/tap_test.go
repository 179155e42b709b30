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

// tapPanicsOnOne panics on item 1; the tests look for its name in the
// stack.
func tapPanicsOnOne(_ context.Context, v int) error {
	if v == 1 {
		panic("one")
	}
	return nil
}

func TestTap(t *testing.T) {
	t.Run("it sees every item in order and passes it on unchanged", func(t *testing.T) {
		var seen, got []int
		st := run(t, pipeline.New(source.Slice(ints(20))).
			Via(stage.Tap(func(_ context.Context, v int) error { seen = append(seen, v); return nil })).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, ints(20), seen)
		assert.Equal(t, ints(20), got)
		assert.EqualValues(t, 20, st.Counts.Done)
	})

	t.Run("it sees an item before the stages after it", func(t *testing.T) {
		var events []string
		st := run(t, pipeline.New(source.Slice([]string{"a", "b"})).
			Via(stage.Tap(func(_ context.Context, v string) error { events = append(events, "tap "+v); return nil })).
			Sink(sink.Func(func(_ context.Context, v string) error { events = append(events, "sink "+v); return nil })))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		// A slice source hands on its items a run at a time, and the fused
		// stages take the run in turn: Tap sees both before the sink does.
		assert.Equal(t, []string{"tap a", "tap b", "sink a", "sink b"}, events)
	})

	t.Run("an error stops the run and names the stage and the item", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Tap(func(_ context.Context, v int) error {
				if v == 5 {
					return errBoom
				}
				return nil
			})).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "tap", st.Stage)
		assert.Equal(t, "#5", st.Target)
		assert.Equal(t, ints(5), got)
	})

	t.Run("a Label names the failing item", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Tap(func(_ context.Context, v int) error {
				if v == 8 {
					return errBoom
				}
				return nil
			}, stage.Label(label), stage.Name("audit"))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "audit", st.Stage)
		assert.Equal(t, "item 8", st.Target)
	})

	t.Run("under Skip a failing item is not passed on", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.Tap(func(_ context.Context, v int) error {
				if v%3 == 0 {
					return errBoom
				}
				return nil
			}, stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{1, 2, 4, 5}, got)
		assert.EqualValues(t, 2, st.Counts.Skipped)
	})

	t.Run("a panic is a PanicError with the function in its stack", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Via(stage.Tap(tapPanicsOnOne)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "tap", st.Stage)
		assert.Equal(t, "#1", st.Target)
		requirePanic(t, st.Err, "one", "tapPanicsOnOne")
	})

	t.Run("a nil function is an invalid stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(stage.Tap[int](nil)).Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil tap function")
	})
}
