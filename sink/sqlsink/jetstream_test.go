package sqlsink_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

// workQueue starts an embedded server with a work-queue stream WORK and a
// consumer "workers" that lets maxAckPending messages out unacknowledged,
// and publishes items as JSON.
func workQueue(t *testing.T, maxAckPending int, items []order) (natsjs.JetStream, natsjs.Stream) {
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
	ctx := t.Context()
	st, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: natsjs.WorkQueuePolicy})
	require.NoError(t, err)
	_, err = js.CreateConsumer(ctx, "WORK", natsjs.ConsumerConfig{Durable: "workers", AckPolicy: natsjs.AckExplicitPolicy, MaxAckPending: maxAckPending})
	require.NoError(t, err)
	for i, o := range items {
		data, err := json.Marshal(o)
		require.NoError(t, err)
		_, err = js.Publish(ctx, "work."+strconv.Itoa(i), data)
		require.NoError(t, err)
	}
	return js, st
}

// The job: 300 messages, at most 100 unacknowledged, timed batches
// of 10 into Insert. Each batch is acknowledged as it commits, so the
// consumer lets the next messages out and the run empties the queue by
// itself (UntilEmpty), with no drain. Holding the acknowledgements until
// the run ends stalls it at 100 rows until the deadline.
func TestAQueueBehindInsertEmptiesWithoutADrain(t *testing.T) {
	d := testdb.Open(t)[0]
	table(t, d, "sink_queue")
	js, stream := workQueue(t, 100, orders(300))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	st := pipeline.New(jetstream.New[order](js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
		Batch(10, stage.MaxWait(50*time.Millisecond)).
		Sink(sinkFor(d, "sink_queue")).Run(ctx)
	t.Logf("%v after %v; %d rows", st, time.Since(start), d.Count(t, "sink_queue"))
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, 300, d.Count(t, "sink_queue"))
	assert.EqualValues(t, 300, st.Counts.Done)
	assert.Eventually(t, func() bool {
		info, err := stream.Info(t.Context())
		return err == nil && info.State.Msgs == 0
	}, 10*time.Second, 10*time.Millisecond, "every message acknowledged")
}
