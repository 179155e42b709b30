package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

// stopper stops a run in one of the ways a run stops hard, once the
// worker has done every queued job and its source waits in a pull.
type stopper struct {
	name string
	// stop stops the run: cancel cancels its context, signals is its stop
	// channel.
	stop func(cancel context.CancelFunc, signals chan<- os.Signal) error
}

var errFault = errors.New("fault")

var hardStops = []stopper{
	{"cancelled context", func(cancel context.CancelFunc, _ chan<- os.Signal) error { cancel(); return nil }},
	{"second signal", func(_ context.CancelFunc, signals chan<- os.Signal) error {
		signals <- syscall.SIGTERM
		signals <- syscall.SIGTERM
		return nil
	}},
	{"fatal fault", func(context.CancelFunc, chan<- os.Signal) error { return errFault }},
}

// runUntil runs a worker over the queue's n jobs, in a ParMap so that the
// source's goroutine is free, and stops it with how once every job is
// done. It returns the run's status and how long Run took from the stop.
func runUntil(t *testing.T, q *queue, n int, maxWait time.Duration, how stopper) (pipeline.ExitStatus, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	signals := make(chan os.Signal, 2)
	var mu sync.Mutex
	var done int
	var stopped time.Time
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.MaxWait(maxWait)), pipeline.WithStopChannel(signals)).
		ParMap(2, stage.Func(func(_ context.Context, v int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if done++; done != n {
				return v, nil // a job before the last, or one given back and delivered again
			}
			// The last job: the source has handed over every message and
			// pulls again, and waits, as nothing more comes.
			stopped = time.Now()
			return v, how.stop(cancel, signals)
		})).
		Sink(sink.Discard[int]()).Run(ctx)
	return status, time.Since(stopped)
}

func TestAHardStopReturnsWithinASecondWhateverMaxWait(t *testing.T) {
	for _, maxWait := range []time.Duration{5 * time.Second, 30 * time.Second} {
		for _, how := range hardStops {
			t.Run(fmt.Sprintf("%s, MaxWait %v", how.name, maxWait), func(t *testing.T) {
				const n = 10
				q := newQueue(t, natsjs.ConsumerConfig{AckWait: time.Minute}, ints(n)...)

				status, took := runUntil(t, q, n, maxWait, how)

				require.False(t, status.OK(), status.String())
				t.Logf("code %d: Run returned %v after the stop", status.Code, took)
				assert.Less(t, took, time.Second, "Run returns within 1s of a hard stop")
				assert.Equal(t, uint64(n), q.deliveries(t), "each message delivered once: none given back to the open pull")
				// The last job is done (or failed) with nothing pulled
				// since: the queue holds the failed one at most, at once.
				status = pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
					Sink(sink.Discard[int]()).Run(testCtx(t))
				require.True(t, status.OK(), status.String())
				q.empties(t)
			})
		}
	}
}

func TestADrainReturnsWithinMaxWaitAndASecond(t *testing.T) {
	drain := stopper{"drain", func(_ context.CancelFunc, signals chan<- os.Signal) error {
		signals <- syscall.SIGTERM
		return nil
	}}
	for _, maxWait := range []time.Duration{2 * time.Second, 5 * time.Second} {
		t.Run(fmt.Sprintf("MaxWait %v", maxWait), func(t *testing.T) {
			const n = 10
			q := newQueue(t, natsjs.ConsumerConfig{AckWait: time.Minute}, ints(n)...)

			status, took := runUntil(t, q, n, maxWait, drain)

			require.Equal(t, 128+int(syscall.SIGTERM), status.Code, status.String())
			assert.Equal(t, int64(n), status.Counts.Done)
			t.Logf("Run returned %v after the drain", took)
			assert.LessOrEqual(t, took, maxWait+time.Second, "a drain returns within MaxWait + 1s")
			assert.Less(t, took, time.Second, "whatever MaxWait: the pull closes within 300ms of the drain")
			q.empties(t)
		})
	}
}
