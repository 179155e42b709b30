package sink_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

func TestChan(t *testing.T) {
	t.Run("items arrive on the channel in order", func(t *testing.T) {
		const n = 500
		ch := make(chan int) // unbuffered: every send waits for the reader
		var got []int
		read := make(chan struct{})
		go func() {
			defer close(read)
			for v := range ch {
				got = append(got, v)
			}
		}()
		st := pipeline.New(source.Slice(upTo(n))).Sink(sink.Chan(ch)).Run(t.Context())
		// Chan never closes ch: the caller does, after Run.
		close(ch)
		<-read

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, upTo(n), got)
		assert.Equal(t, int64(n), st.Counts.Done)
	})

	t.Run("it leaves the channel open", func(t *testing.T) {
		ch := make(chan int, 3)
		st := pipeline.New(source.Slice([]int{1, 2, 3})).Sink(sink.Chan(ch)).Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)

		assert.Equal(t, 1, <-ch)
		assert.Equal(t, 2, <-ch)
		assert.Equal(t, 3, <-ch)
		select {
		case v, ok := <-ch:
			assert.Fail(t, "channel should be open and empty", "got %v, open %v", v, ok)
		default:
		}
	})

	t.Run("a blocked channel returns when ctx is cancelled and leaves nothing running", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch := make(chan int) // nobody reads it
			var st pipeline.ExitStatus
			done := make(chan struct{})
			go func() {
				defer close(done)
				st = pipeline.New(source.Slice(upTo(10))).Sink(sink.Chan(ch)).Run(ctx)
			}()
			// Every goroutine of the run is now blocked: the sink on ch.
			synctest.Wait()
			cancel()
			// If Run missed the cancellation, the bubble deadlocks here and
			// synctest fails the test instead of hanging it.
			<-done

			assert.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Zero(t, st.Counts.Done)
			// A slice source hands on its items in runs of 64: all ten are
			// emitted, the sink waits on the first.
			assert.Equal(t, int64(10), st.Counts.In)
			assert.Equal(t, int64(10), st.Counts.Abandoned)
		})
	})

	t.Run("a full buffered channel holds the source back until ctx is cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch := make(chan int, 2)
			var st pipeline.ExitStatus
			done := make(chan struct{})
			go func() {
				defer close(done)
				st = pipeline.New(source.Slice(upTo(1000))).Sink(sink.Chan(ch)).Run(ctx)
			}()
			synctest.Wait()
			cancel()
			<-done

			assert.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Equal(t, int64(2), st.Counts.Done)
			// The first run of 64 was emitted; the sink waits on its third
			// item, and the source on the sink.
			assert.Equal(t, int64(64), st.Counts.In)
			assert.Len(t, ch, 2)
		})
	})

	t.Run("a nil channel makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Slice([]int{1})).Sink(sink.Chan[int](nil)).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil channel")
		assert.Contains(t, st.Message, `"chan"`)
	})
}
