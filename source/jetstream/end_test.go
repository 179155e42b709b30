package jetstream_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/jetstream"
)

func TestASingleWorkerBatchJobEndsSoonAfterItsLastItemIsDone(t *testing.T) {
	// The last messages say that none is pending behind them: the source
	// asks the server at once, and every 10ms, whether the consumer is
	// empty, instead of waiting out a pull (MaxWait, 1s by default).
	const n = 1000
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(n)...)
	var last atomic.Int64
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty())).
		Sink(sink.Func(func(context.Context, int) error {
			last.Store(time.Now().UnixNano())
			return nil
		})).Run(testCtx(t))
	took := time.Since(time.Unix(0, last.Load()))

	require.True(t, status.OK(), status.String())
	assert.Equal(t, int64(n), status.Counts.Done)
	t.Logf("Run returned %v after the last item was done", took)
	assert.Less(t, took, 500*time.Millisecond, "the run ends soon after its last item (measured: tens of ms)")
	q.empties(t)
}

func TestABatchJobWhoseItemsWaitForTheSourcesEndStillEnds(t *testing.T) {
	// A batch of 100 never fills with 10 jobs: it is written only when the
	// source ends. The source stops waiting for the items of the messages
	// it holds once they have not settled for 200ms.
	const n = 10
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(n)...)
	var got []int
	start := time.Now()
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty())).
		Batch(100).
		Sink(sink.Func(func(_ context.Context, b []int) error { got = append(got, b...); return nil })).
		Run(testCtx(t))
	took := time.Since(start)

	require.True(t, status.OK(), status.String())
	assert.ElementsMatch(t, ints(n), toAny(got))
	t.Logf("Run returned after %v", took)
	assert.Less(t, took, 5*time.Second, "the 200ms stall, not a deadlock")
	q.empties(t)
}

func TestBatchJobWorkersEndSoonAfterTheConsumerIsEmptyAndSettled(t *testing.T) {
	// Two workers share the queue; one is slow, so the fast one runs out
	// of messages first and must wait for the slow one's to settle: a
	// message another worker holds may still come back. Both end soon
	// after the last item of either is done.
	const n = 600
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(n)...)
	var last atomic.Int64
	worker := func(work time.Duration) pipeline.ExitStatus {
		return pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.FetchBatch(20))).
			Sink(sink.Func(func(context.Context, int) error {
				time.Sleep(work)
				last.Store(time.Now().UnixNano())
				return nil
			})).Run(testCtx(t))
	}
	type ended struct {
		status pipeline.ExitStatus
		at     time.Time
	}
	ends := make(chan ended, 2)
	for _, work := range []time.Duration{0, time.Millisecond} {
		go func() {
			st := worker(work)
			ends <- ended{st, time.Now()}
		}()
	}
	var done int64
	for range 2 {
		e := <-ends
		require.True(t, e.status.OK(), e.status.String())
		done += e.status.Counts.Done
		took := e.at.Sub(time.Unix(0, last.Load()))
		t.Logf("a worker that did %d items returned %v after the last item was done", e.status.Counts.Done, took)
		assert.Less(t, took, 500*time.Millisecond, "each worker ends soon after the consumer is empty and settled (measured: tens of ms)")
	}
	assert.Equal(t, int64(n), done, "every item done once")
	q.empties(t)
}
