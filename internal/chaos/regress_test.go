package chaos_test

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
	"github.com/conveyor-go/conveyor/stage"
)

// Regression tests for the bugs the chaos suite found, one each, made
// deterministic: the stop channel is unbuffered, so a send returns only once
// Run has received the signal, and synctest runs the pipeline in a bubble
// whose clock moves only when every goroutine in it is blocked.

// TestSignalAfterCancelIsReportedAsDrain: the run's context is cancelled,
// and while the run winds down (a handler finishing its item) a SIGINT
// arrives. The cancellation came first, so the run must end as cancelled
// (code 1, context.Canceled); Run reports a drain instead (130, "drained"),
// although the cancellation abandoned the items in flight.
func TestSignalAfterCancelIsReportedAsDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stop := make(chan os.Signal)
		started, release := make(chan struct{}), make(chan struct{})
		h := stage.Func(func(_ context.Context, v int) (int, error) {
			if v == 0 {
				close(started)
				<-release // finishes its item, cancelled or not
			}
			return v, nil
		})
		go func() {
			<-started
			cancel()
			select {
			case stop <- syscall.SIGINT: // Run is still running: item 0 holds it
			case <-time.After(time.Second): // Run no longer listens: fine too
			}
			close(release)
		}()
		st := pipeline.New(source.Slice([]int{0, 1, 2}), pipeline.WithStopChannel(stop)).
			ParMap(1, h, stage.Buffer(4)).Sink(sink.Discard[int]()).Run(ctx)

		assert.Equal(t, pipeline.CodeFailure, st.Code, "the cancellation came before the signal: %s", st.Message)
		assert.ErrorIs(t, st.Err, context.Canceled)
		assert.NotContains(t, st.Message, "drained")
	})
}

// TestCancelDuringDrainIsReportedAsDrained: a SIGINT drains the run, and
// before the drain finishes the run's context is cancelled, which abandons
// the items in flight. The signal came first, so the code is 130; but Run
// reports a completed drain (SignalError.Hard false, "drained") with
// Counts.Abandoned > 0, which contradicts its own accounting: a drained run
// abandons nothing. It was stopped hard.
func TestCancelDuringDrainIsReportedAsDrained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stop := make(chan os.Signal)
		started := make(chan struct{})
		h := stage.Func(func(ctx context.Context, v int) (int, error) {
			if v == 0 {
				close(started)
			}
			<-ctx.Done() // only the cancellation ends it
			return 0, ctx.Err()
		})
		go func() {
			<-started
			stop <- syscall.SIGINT // returns once Run has it: the drain has begun
			cancel()
		}()
		st := pipeline.New(source.Slice([]int{0, 1, 2}), pipeline.WithStopChannel(stop)).
			ParMap(1, h, stage.Buffer(4)).Sink(sink.Discard[int]()).Run(ctx)

		require.Equal(t, 128+int(syscall.SIGINT), st.Code, "the signal came first: %s", st.Message)
		assert.Equal(t, pipeline.Counts{In: 3, Abandoned: 3}, st.Counts)
		var se *pipeline.SignalError
		require.ErrorAs(t, st.Err, &se)
		assert.True(t, se.Hard, "3 items were abandoned: the run did not drain, it was stopped hard")
		assert.NotContains(t, st.Message, "drained")
	})
}
