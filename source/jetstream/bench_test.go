package jetstream_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/jetstream"
)

// BenchmarkSource measures the source alone against nats.go's Consume by
// hand: b.N messages, each decoded as JSON and acknowledged at once (the
// handwritten handler; conveyor's Discard sink), until the queue is empty.
// allocs/msg counts the whole process's, the embedded server's included:
// compare the variants, not to zero.
//
//	go test -run '^$' -bench Source -benchtime 50000x ./source/jetstream
func BenchmarkSource(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		benchmarkSource(b, func(ctx context.Context, js natsjs.JetStream) error {
			cons, err := js.Consumer(ctx, "WORK", "workers")
			if err != nil {
				return err
			}
			var acked atomic.Int64
			done := make(chan struct{})
			cc, err := cons.Consume(func(m natsjs.Msg) {
				var v int
				if json.Unmarshal(m.Data(), &v) == nil && m.Ack() == nil && acked.Add(1) == int64(b.N) {
					close(done)
				}
			}, natsjs.PullMaxMessages(256))
			if err != nil {
				return err
			}
			<-done
			cc.Stop()
			<-cc.Closed()
			return nil
		})
	})
	b.Run("conveyor", func(b *testing.B) {
		benchmarkSource(b, func(ctx context.Context, js natsjs.JetStream) error {
			return pipeline.New(jetstream.New[int](js, "WORK", "workers", jetstream.UntilEmpty())).
				Sink(sink.Discard[int]()).Run(ctx).Err
		})
	})
}

func benchmarkSource(b *testing.B, worker func(context.Context, natsjs.JetStream) error) {
	q := newBenchQueue(b)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	require.NoError(b, worker(context.Background(), q))
	took := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/msg")
}

// newBenchQueue starts a server with the work queue WORK and its consumer
// "workers" holding b.N messages, and returns a connection of its own for
// the worker.
func newBenchQueue(b *testing.B) natsjs.JetStream {
	srv, err := natsrun.Start(b.TempDir())
	require.NoError(b, err)
	b.Cleanup(srv.Stop)
	connect := func() natsjs.JetStream {
		nc, err := nats.Connect(srv.URL())
		require.NoError(b, err)
		b.Cleanup(nc.Close)
		js, err := natsjs.New(nc)
		require.NoError(b, err)
		return js
	}
	js := connect()
	ctx := context.Background()
	_, err = js.CreateStream(ctx, natsjs.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: natsjs.WorkQueuePolicy})
	require.NoError(b, err)
	for i := range b.N {
		_, err := js.PublishAsync("work.x", []byte(strconv.Itoa(i)))
		require.NoError(b, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing the messages took over a minute")
	}
	_, err = js.CreateConsumer(ctx, "WORK", natsjs.ConsumerConfig{Durable: "workers", AckPolicy: natsjs.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 4096})
	require.NoError(b, err)
	return connect()
}
