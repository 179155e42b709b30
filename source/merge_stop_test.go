package source_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

// A hard stop returns Run within 1s even when a source of a Merge does not
// watch its context: Merge leaves it behind, and the ExitStatus counts it.
func TestMergeHardStopLeavesStuckSourceBehind(t *testing.T) {
	const bound = time.Second // Run returns within it of a hard stop
	for _, c := range []struct {
		name string
		// opts returns the run's options, and stop, which stops it hard.
		setup func(cancel context.CancelFunc) (opts []pipeline.Option, stop func())
		code  int
	}{
		{"a cancelled context", func(cancel context.CancelFunc) ([]pipeline.Option, func()) {
			return nil, cancel
		}, pipeline.CodeFailure},
		{"a drain, then a second signal", func(context.CancelFunc) ([]pipeline.Option, func()) {
			ch := make(chan os.Signal, 2)
			return []pipeline.Option{pipeline.WithStopChannel(ch)}, func() {
				ch <- syscall.SIGINT // the drain waits for the stuck source
				ch <- syscall.SIGINT
			}
		}, 128 + int(syscall.SIGINT)},
	} {
		t.Run(c.name, func(t *testing.T) {
			release := make(chan struct{})
			stuck := source.Func(func(_ context.Context, _ func(int) bool) error {
				<-release // does not watch its context
				return nil
			}).Named("stuck")
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			opts, stop := c.setup(cancel)
			seen := make(chan int, 1)
			p := pipeline.New(source.Merge(stuck, source.Slice([]int{1})), opts...).
				Sink(sink.Func(func(_ context.Context, v int) error {
					seen <- v
					return nil
				}))
			done := make(chan pipeline.ExitStatus, 1)
			go func() { done <- p.Run(ctx) }()
			require.Equal(t, 1, <-seen)

			start := time.Now()
			stop()
			var st pipeline.ExitStatus
			select {
			case st = <-done:
			case <-time.After(bound):
				t.Errorf("Run did not return within %v of the stop", bound)
				close(release)
				st = <-done
			}
			t.Logf("Run returned %v after the stop", time.Since(start))

			require.Equal(t, c.code, st.Code, st.Message)
			assert.Equal(t, int64(1), st.Counts.Done)
			assert.Equal(t, 1, st.LeftBehind, "the stuck source's goroutine")
			assert.Contains(t, st.Message, "1 goroutine left behind")
			select {
			case <-release:
			default:
				close(release)
			}
			goleak.VerifyNone(t) // the goroutine left behind ends once released
		})
	}
}
