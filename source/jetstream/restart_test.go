package jetstream_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

func TestAServerRestartMidRunLosesNothing(t *testing.T) {
	dir := t.TempDir()
	srv, err := natsrun.Start(dir)
	require.NoError(t, err)
	port := srv.Port()
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	require.NoError(t, err)
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	q := &queue{js: js}
	ctx := testCtx(t)
	q.stream, err = js.CreateStream(ctx, natsjs.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: natsjs.WorkQueuePolicy})
	require.NoError(t, err)
	_, err = js.CreateConsumer(ctx, "WORK", natsjs.ConsumerConfig{Durable: "workers", AckPolicy: natsjs.AckExplicitPolicy, AckWait: time.Second})
	require.NoError(t, err)
	const n = 200
	q.publish(t, ints(n)...)

	// After 50 items the server stops, and starts again on its port and
	// store 200ms later; the worker's connection reconnects by itself.
	var seen atomic.Int64
	halfway := make(chan struct{})
	restarted := make(chan *natsrun.Server, 1)
	go func() {
		<-halfway
		srv.Stop()
		time.Sleep(200 * time.Millisecond)
		s, err := natsrun.StartAt(dir, port)
		if err != nil {
			t.Error(err)
		}
		restarted <- s
	}()
	var got []int
	status := pipeline.New(jetstream.New[int](js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(200*time.Millisecond))).
		Map(stage.Func(func(_ context.Context, v int) (int, error) {
			if seen.Add(1) == 50 {
				close(halfway)
			}
			time.Sleep(time.Millisecond)
			return v, nil
		})).
		Sink(sink.Func(func(_ context.Context, v int) error { got = append(got, v); return nil })).Run(ctx)
	srv = <-restarted
	require.NotNil(t, srv)
	t.Cleanup(func() {
		nc.Close()
		srv.Stop()
	})

	require.True(t, status.OK(), status.String())
	assert.Positive(t, nc.Stats().Reconnects, "the run went through the restart")
	assert.Equal(t, status.Counts.In, status.Counts.Done)
	// Acknowledgements sent while the server was down are lost: those
	// messages come again, so some items may be done twice, none missed.
	assert.Subset(t, toAny(got), ints(n), "every item done at least once")
	q.emptiesAcrossRestarts(t)
}
