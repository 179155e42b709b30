package jetstream_test

import (
	"context"
	"errors"
	"fmt"
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

// A failure that stops the run under fail-fast, behind the source with
// nothing between (the sink, or a Map fused to the source, fails in the
// source's own goroutine): the run returns at once, and every message,
// the failed one included, is still in the queue for the next run with
// deliveries left, even under a MaxDeliver of 3.
func TestAFailFastFailureReturnsAndLeavesTheQueueForTheNextRun(t *testing.T) {
	errDown := errors.New("db down")
	cases := []struct {
		name string
		run  func(ctx context.Context, src *jetstream.Source[job]) pipeline.ExitStatus
	}{
		{"the sink fails", func(ctx context.Context, src *jetstream.Source[job]) pipeline.ExitStatus {
			return pipeline.New(src).
				Sink(sink.Func(func(context.Context, job) error { return errDown })).Run(ctx)
		}},
		{"a fused Map fails", func(ctx context.Context, src *jetstream.Source[job]) pipeline.ExitStatus {
			return pipeline.New(src).
				Map(stage.Func(func(_ context.Context, j job) (job, error) { return j, errDown })).
				Sink(sink.Discard[job]()).Run(ctx)
		}},
	}
	for _, c := range cases {
		for _, maxDeliver := range []int{0, 3} {
			t.Run(fmt.Sprintf("%s, MaxDeliver %d", c.name, maxDeliver), func(t *testing.T) {
				const n = 7
				q := newQueue(t, natsjs.ConsumerConfig{MaxDeliver: maxDeliver, AckWait: time.Minute}, ints(n)...)

				// Before the fix, the run returned only at its context's
				// deadline, having delivered the failed message again and
				// again.
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				start := time.Now()
				status := c.run(ctx, jetstream.New[job](q.js, "WORK", "workers", jobs))
				took := time.Since(start)
				require.Equal(t, pipeline.CodeFailure, status.Code, status.String())
				assert.ErrorIs(t, status.Err, errDown)
				assert.Less(t, took, time.Second, "Run returns within 1s of the failure")
				delivered := q.deliveries(t)
				t.Logf("returned in %v, %d deliveries of %d messages", took, delivered, n)
				assert.LessOrEqual(t, delivered, uint64(2*n), "no redelivery loop: at most one more delivery of each message while the run stops")

				// The next run gets every message, none used up: a redelivery
				// loop while the first run stopped would have spent the
				// consumer's three deliveries, and stranded the messages.
				var got []job
				status = pipeline.New(jetstream.New[job](q.js, "WORK", "workers", jobs, jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
					Sink(sink.Func(func(_ context.Context, j job) error { got = append(got, j); return nil })).Run(testCtx(t))
				require.True(t, status.OK(), status.String())
				var vs []int
				for _, j := range got {
					vs = append(vs, j.V)
					assert.LessOrEqual(t, j.Delivered, uint64(3), "job %d delivered %d times", j.V, j.Delivered)
				}
				assert.ElementsMatch(t, ints(n), toAny(vs), "none stranded")
				q.empties(t)
			})
		}
	}
}
