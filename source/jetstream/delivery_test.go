package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
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

// job is an item with the number of times its message was delivered.
type job struct {
	V         int
	Delivered uint64
}

// jobs decodes messages into jobs.
var jobs = jetstream.Decoder(func(m natsjs.Msg) (job, error) {
	var j job
	md, err := m.Metadata()
	if err != nil {
		return j, err
	}
	j.Delivered = md.NumDelivered
	return j, json.Unmarshal(m.Data(), &j.V)
})

func TestAPoisonItemIsDeadLetteredAfterItsDeliveriesAndTheQueueEmpties(t *testing.T) {
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(20)...)
	var mu sync.Mutex
	var dead []stage.DeadLetterItem
	var done []int
	calls := map[int]int{}
	policy := stage.Retry(3, time.Millisecond, 5*time.Millisecond).Then(stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
		mu.Lock()
		defer mu.Unlock()
		dead = append(dead, d)
		return nil
	}))
	status := pipeline.New(jetstream.New[job](q.js, "WORK", "workers", jobs, jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond)),
		pipeline.OnError(policy)).
		ParMap(2, stage.Func(func(_ context.Context, j job) (job, error) {
			mu.Lock()
			calls[j.V]++
			mu.Unlock()
			if j.V == 7 {
				return j, errors.New("poison")
			}
			return j, nil
		})).
		Sink(sink.Func(func(_ context.Context, j job) error { done = append(done, j.V); return nil })).
		Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	require.Len(t, dead, 1)
	assert.Equal(t, job{V: 7, Delivered: 3}, dead[0].Item, "dead-lettered on its third delivery")
	assert.ErrorContains(t, dead[0].Err, "poison")
	assert.Equal(t, 3, calls[7], "one call per delivery")
	assert.Len(t, done, 19)
	assert.Equal(t, int64(2), status.Counts.Requeued)
	assert.Equal(t, int64(1), status.Counts.DeadLettered)
	assert.Equal(t, int64(22), status.Counts.In, "20 messages and 2 redeliveries")
	q.empties(t)
}

func TestTheConsumersLastDeliveryTakesTheFallback(t *testing.T) {
	q := newQueue(t, natsjs.ConsumerConfig{MaxDeliver: 2}, ints(5)...)
	var dead []stage.DeadLetterItem
	policy := stage.Retry(10, time.Millisecond, time.Millisecond).Then(stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
		dead = append(dead, d)
		return nil
	}))
	status := pipeline.New(jetstream.New[job](q.js, "WORK", "workers", jobs, jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond)),
		pipeline.OnError(policy)).
		Map(stage.Func(func(_ context.Context, j job) (job, error) {
			if j.V == 3 {
				return j, errors.New("poison")
			}
			return j, nil
		})).
		Sink(sink.Discard[job]()).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	require.Len(t, dead, 1)
	assert.Equal(t, job{V: 3, Delivered: 2}, dead[0].Item, "MaxDeliver 2 makes the second delivery the last")
	q.empties(t)
}

func TestAnUndecodableMessageGoesThroughThePolicy(t *testing.T) {
	t.Run("fail fast names the message", func(t *testing.T) {
		q := newQueue(t, natsjs.ConsumerConfig{}, 0, 1, []byte("not json"), 3)
		status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty())).
			Sink(sink.Discard[int]()).Run(testCtx(t))
		require.Equal(t, pipeline.CodeFailure, status.Code, status.String())
		assert.Equal(t, "jetstream", status.Stage)
		assert.Equal(t, "WORK#3", status.Target, "stream and sequence number")
		assert.ErrorContains(t, status.Err, "invalid character")
		var se *json.SyntaxError
		assert.ErrorAs(t, status.Err, &se)
	})
	t.Run("dead letter gets the message and the queue empties", func(t *testing.T) {
		q := newQueue(t, natsjs.ConsumerConfig{}, 0, 1, []byte("not json"), 3)
		var dead []stage.DeadLetterItem
		var got []int
		status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond)),
			pipeline.OnError(stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
				dead = append(dead, d)
				return nil
			}))).
			Sink(sink.Func(func(_ context.Context, v int) error { got = append(got, v); return nil })).Run(testCtx(t))
		require.True(t, status.OK(), status.String())
		assert.Equal(t, []int{0, 1, 3}, got)
		require.Len(t, dead, 1)
		assert.Equal(t, "WORK#3", dead[0].Label)
		m, ok := dead[0].Item.(natsjs.Msg)
		require.True(t, ok, "the dead letter holds the message, got %T", dead[0].Item)
		assert.Equal(t, "not json", string(m.Data()))
		assert.Equal(t, int64(4), status.Counts.In)
		assert.Equal(t, int64(1), status.Counts.DeadLettered)
		q.empties(t)
	})
}

func TestADrainFinishesWhatItHoldsAndLeavesTheRestQueued(t *testing.T) {
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(100)...)
	stop := make(chan os.Signal, 1)
	started := make(chan struct{})
	var once sync.Once
	var first []int
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.FetchBatch(10)), pipeline.WithStopChannel(stop)).
		ParMap(2, stage.Func(func(ctx context.Context, v int) (int, error) {
			once.Do(func() { close(started); stop <- syscall.SIGTERM })
			<-started
			return v, nil
		})).
		Sink(sink.Func(func(_ context.Context, v int) error { first = append(first, v); return nil })).
		Run(testCtx(t))
	require.Equal(t, 128+int(syscall.SIGTERM), status.Code, status.String())
	assert.Zero(t, status.Counts.Abandoned, "a drain finishes every item it took")
	assert.Equal(t, int64(len(first)), status.Counts.Done)
	assert.Less(t, len(first), 100, "the drain stopped the fetching")

	// What the first run did not take is still queued, and nothing is
	// held: a second run gets exactly the rest at once.
	var rest []int
	status = pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
		Sink(sink.Func(func(_ context.Context, v int) error { rest = append(rest, v); return nil })).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	assert.ElementsMatch(t, ints(100), toAny(append(first, rest...)))
	q.empties(t)
}

func TestAHardStopGivesBackWhatItHeld(t *testing.T) {
	// AckWait is long: what the second run gets, it gets because the first
	// gave it back, not because the server timed it out.
	q := newQueue(t, natsjs.ConsumerConfig{AckWait: time.Hour}, ints(50)...)
	ctx, cancel := context.WithCancel(testCtx(t))
	var first []int
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.FetchBatch(20))).
		Map(stage.Func(func(_ context.Context, v int) (int, error) {
			if v == 5 {
				cancel()
				<-ctx.Done()
				return v, ctx.Err()
			}
			return v, nil
		})).
		Sink(sink.Func(func(_ context.Context, v int) error { first = append(first, v); return nil })).Run(ctx)
	require.Equal(t, pipeline.CodeFailure, status.Code, status.String())
	assert.Equal(t, int64(5), status.Counts.Done)
	assert.Positive(t, status.Counts.Abandoned)

	var rest []int
	status = pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
		Sink(sink.Func(func(_ context.Context, v int) error { rest = append(rest, v); return nil })).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	assert.ElementsMatch(t, ints(50), toAny(append(first, rest...)), "nothing lost, nothing twice")
	q.empties(t)
}

func TestASlowItemKeepsItsMessageFromRedelivery(t *testing.T) {
	// Item 0 takes over three AckWaits in a Map fused to the source, so the
	// messages behind it wait: 3 in the hand-over to the generator (its
	// room is FetchBatch), and the next pull's beyond it.
	// A keep-alive every 50ms leaves a late tick 500ms of margin on a
	// loaded machine.
	q := newQueue(t, natsjs.ConsumerConfig{AckWait: 600 * time.Millisecond}, ints(8)...)
	var got []job
	status := pipeline.New(jetstream.New[job](q.js, "WORK", "workers", jobs, jetstream.FetchBatch(4),
		jetstream.KeepAlive(50*time.Millisecond), jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
		Map(stage.Func(func(_ context.Context, j job) (job, error) {
			if j.V == 0 {
				time.Sleep(2 * time.Second)
			}
			return j, nil
		})).
		Sink(sink.Func(func(_ context.Context, j job) error { got = append(got, j); return nil })).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	want := make([]job, 8)
	for i := range want {
		want[i] = job{V: i, Delivered: 1}
	}
	assert.Equal(t, want, got, "each delivered once: InProgress kept the leases")
	q.empties(t)
}

func toAny(xs []int) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func TestAnUndecodableMessageIsNotRetried(t *testing.T) {
	// Decoding the same bytes again gives the same error: under Retry(5)
	// the message is delivered once and dead-lettered at once.
	q := newQueue(t, natsjs.ConsumerConfig{}, 0, []byte("not json"), 2)
	var dead []stage.DeadLetterItem
	policy := stage.Retry(5, time.Millisecond, 5*time.Millisecond).Then(stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
		dead = append(dead, d)
		return nil
	}))
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond)),
		pipeline.OnError(policy)).
		Sink(sink.Discard[int]()).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	require.Len(t, dead, 1)
	m, ok := dead[0].Item.(natsjs.Msg)
	require.True(t, ok, "the dead letter holds the message, got %T", dead[0].Item)
	md, err := m.Metadata()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), md.NumDelivered, "dead-lettered on its first delivery")
	var se *json.SyntaxError
	assert.ErrorAs(t, dead[0].Err, &se, "the decoder's error, still reachable")
	assert.Zero(t, status.Counts.Retried)
	assert.Zero(t, status.Counts.Requeued)
	assert.Equal(t, int64(3), status.Counts.In, "3 messages, no redelivery")
	q.empties(t)
}
