package source_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

func TestChan(t *testing.T) {
	t.Run("it reads until the channel is closed", func(t *testing.T) {
		ch := make(chan int, 5)
		for i := range 5 {
			ch <- i
		}
		close(ch)
		var got []int
		st := pipeline.New(source.Chan(ch)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 1, 2, 3, 4}, got)
		assert.Equal(t, int64(5), st.Counts.In)
	})

	t.Run("it takes items from a concurrent producer in the order sent", func(t *testing.T) {
		const n = 1000
		ch := make(chan int)
		go func() {
			defer close(ch)
			for i := range n {
				ch <- i
			}
		}()
		var got []int
		st := pipeline.New(source.Chan(ch)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, n)
		for i, v := range got {
			require.Equal(t, i, v)
		}
	})

	t.Run("cancelling ctx while it waits ends the run and leaves nothing running", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			ch := make(chan int) // never closed
			var got []int
			var st pipeline.ExitStatus
			done := make(chan struct{})
			go func() {
				defer close(done)
				st = pipeline.New(source.Chan(ch)).Sink(sink.Collect(&got)).Run(ctx)
			}()
			ch <- 1
			ch <- 2
			// Every goroutine of the run is now blocked: the source on ch.
			synctest.Wait()
			cancel()
			// If Run missed the cancellation, the bubble deadlocks here and
			// synctest fails the test instead of hanging it.
			<-done

			assert.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Equal(t, []int{1, 2}, got)
			assert.Equal(t, int64(2), st.Counts.In)
		})
	})

	t.Run("a drain while it waits ends the run, and the items already read finish", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int) // never closed
			stop := make(chan os.Signal, 1)
			var got []int
			var st pipeline.ExitStatus
			done := make(chan struct{})
			go func() {
				defer close(done)
				st = pipeline.New(source.Chan(ch), pipeline.WithStopChannel(stop)).
					Sink(sink.Collect(&got)).Run(t.Context())
			}()
			ch <- 7
			synctest.Wait()
			stop <- os.Interrupt
			<-done

			assert.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
			assert.Equal(t, []int{7}, got)
			assert.Equal(t, int64(1), st.Counts.Done)
		})
	})

	t.Run("a drain leaves in the channel every value it did not emit", func(t *testing.T) {
		// Chan's doc: on a drain, values still in ch are left there. So each
		// value ends either in the sink or in ch, never in neither. When the
		// drain comes while values are waiting, the source's select sees ch
		// and ctx ready at once and picks one at random, so one try can pass
		// by luck: make many.
		const n, tries = 20, 64
		for try := range tries {
			synctest.Test(t, func(t *testing.T) {
				ch := make(chan int, n)
				for i := range n {
					ch <- i
				}
				stop := make(chan os.Signal, 1)
				var got []int
				f := sink.Func(func(_ context.Context, v int) error {
					got = append(got, v)
					if v == 0 {
						stop <- os.Interrupt
						// Sleeping in the bubble lets the drain land first.
						time.Sleep(time.Second)
					}
					return nil
				})
				st := pipeline.New(source.Chan(ch), pipeline.WithStopChannel(stop)).Sink(f).Run(t.Context())

				require.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
				left := len(ch)
				require.Equal(t, n, len(got)+left,
					"try %d: %d values emitted, %d left in ch: %d taken from ch and dropped",
					try, len(got), left, n-len(got)-left)
			})
		}
	})

	t.Run("a nil channel makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Chan[int](nil)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil channel")
		assert.Contains(t, st.Message, `"chan"`)
	})

	t.Run("it is named chan, and Named renames it in errors", func(t *testing.T) {
		assert.Equal(t, "chan", source.Chan(make(chan int)).Name())

		st := pipeline.New(source.Chan[int](nil).Named("events")).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.Contains(t, st.Message, `"events"`)
	})
}
