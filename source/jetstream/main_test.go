package jetstream_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/internal/natsrun"
)

// TestMain fails the package if a test leaves a goroutine running, its
// NATS server's included: every test stops its server and waits for it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// queue is a work-queue stream "WORK" with a durable consumer "workers"
// on an embedded server of the test's own.
type queue struct {
	js     natsjs.JetStream
	stream natsjs.Stream
}

// newQueue starts a server, makes the stream and the consumer (cfg's
// AckWait and MaxDeliver, if set), and publishes items as JSON.
func newQueue(t *testing.T, cfg natsjs.ConsumerConfig, items ...any) *queue {
	t.Helper()
	srv, err := natsrun.Start(t.TempDir())
	require.NoError(t, err)
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	t.Cleanup(func() {
		nc.Close()
		srv.Stop()
	})
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	ctx := testCtx(t)
	st, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: natsjs.WorkQueuePolicy})
	require.NoError(t, err)
	cfg.Durable = "workers"
	if cfg.AckPolicy == natsjs.AckNonePolicy {
		cfg.AckPolicy = natsjs.AckExplicitPolicy
	}
	_, err = js.CreateConsumer(ctx, "WORK", cfg)
	require.NoError(t, err)
	q := &queue{js: js, stream: st}
	q.publish(t, items...)
	return q
}

func (q *queue) publish(t *testing.T, items ...any) {
	t.Helper()
	for i, v := range items {
		data, ok := v.([]byte)
		if !ok {
			var err error
			data, err = json.Marshal(v)
			require.NoError(t, err)
		}
		_, err := q.js.Publish(testCtx(t), "work."+strconv.Itoa(i), data)
		require.NoError(t, err)
	}
}

// left is the number of messages still in the stream.
func (q *queue) left(t *testing.T) uint64 {
	t.Helper()
	info, err := q.stream.Info(testCtx(t))
	require.NoError(t, err)
	return info.State.Msgs
}

// deliveries is the number of deliveries the consumer made so far,
// redeliveries included.
func (q *queue) deliveries(t *testing.T) uint64 {
	t.Helper()
	cons, err := q.js.Consumer(testCtx(t), "WORK", "workers")
	require.NoError(t, err)
	info, err := cons.Info(testCtx(t))
	require.NoError(t, err)
	return info.Delivered.Consumer
}

// empties checks that the stream empties: the server applies
// acknowledgements shortly after it receives them.
func (q *queue) empties(t *testing.T) {
	t.Helper()
	if n, ok := q.emptied(t); !ok {
		ci := q.consumerInfo(t)
		t.Errorf("%d messages left in the stream; the consumer: ack floor %d, %d pending, %d unacknowledged",
			n, ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending)
	}
}

// emptiesAcrossRestarts is empties for a queue whose server restarted
// while the run held messages. There the server may keep in the stream a
// message it had the acknowledgement of: once in about 20 runs of the 2s
// outage under -race, one message of 2,000 stayed while the consumer's ack
// floor was past it and nothing was pending or unacknowledged (a
// work-queue removal the restart lost, server-side). Such a message is
// never delivered again; what matters to the run, that the consumer has
// acknowledged every message and holds none, is checked instead.
func (q *queue) emptiesAcrossRestarts(t *testing.T) {
	t.Helper()
	n, ok := q.emptied(t)
	if ok {
		return
	}
	info, err := q.stream.Info(testCtx(t))
	require.NoError(t, err)
	ci := q.consumerInfo(t)
	require.Zero(t, ci.NumPending, "nothing left to deliver")
	require.Zero(t, ci.NumAckPending, "nothing delivered and not acknowledged")
	require.Equal(t, info.State.LastSeq, ci.AckFloor.Stream, "every message acknowledged")
	t.Logf("%d messages acknowledged and kept in the stream by the restarted server (first %d)", n, info.State.FirstSeq)
}

// emptied waits up to 10s for the stream to be empty, and returns what is
// left.
func (q *queue) emptied(t *testing.T) (left uint64, ok bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if left = q.left(t); left == 0 || time.Now().After(deadline) {
			return left, left == 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (q *queue) consumerInfo(t *testing.T) *natsjs.ConsumerInfo {
	t.Helper()
	cons, err := q.js.Consumer(testCtx(t), "WORK", "workers")
	require.NoError(t, err)
	ci, err := cons.Info(testCtx(t))
	require.NoError(t, err)
	return ci
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ints(n int) []any {
	xs := make([]any, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}
