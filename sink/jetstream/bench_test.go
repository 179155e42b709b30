//go:build unix

package jetstream_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/cputime"
	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/jetstream"
	"github.com/conveyor-go/conveyor/source"
)

// benchPending bounds the publishes awaiting confirmation in every variant
// of BenchmarkPublish: the sink's MaxPending, and the hand-written loop's
// channel.
const benchPending = 1024

// benchResult is an item of about 100 bytes of JSON, like a worker's result.
type benchResult struct {
	JobID      int    `json:"job_id"`
	Customer   string `json:"customer"`
	SKU        string `json:"sku"`
	TotalCents int    `json:"total_cents"`
	Delivery   int    `json:"delivery"`
}

func benchResults(n int) []benchResult {
	vs := make([]benchResult, n)
	for i := range vs {
		vs[i] = benchResult{JobID: i, Customer: "CUST-" + strconv.Itoa(i%997), SKU: "SKU-" + strconv.Itoa(100000+i%5003),
			TotalCents: 199 + i%10000, Delivery: 1}
	}
	return vs
}

func benchMsgID(r benchResult) string { return "bench/" + strconv.Itoa(r.JobID) }

// BenchmarkPublish publishes b.N results of about 100 bytes of JSON, each
// with a Nats-Msg-Id, to a file stream on an embedded server, and returns
// once the server has confirmed them all. handwritten is nats.go alone: a
// loop of PublishMsgAsync, and a goroutine that waits for each PubAck in
// turn, at most benchPending in flight; the sink variants are a pipeline
// from a source to sink/jetstream (MsgID, MaxPending(benchPending)), with
// the items pushed one at a time (a generator, as source/jetstream yields
// them) or in runs (a slice). ns/op, allocs/item and cpu-ns/item are per
// item; allocations and CPU time count the whole process, the embedded
// server's included, so the difference between a sink variant and
// handwritten is the pipeline's and the sink's own.
//
// To interleave the variants, run the test binary several times with
// -test.count 1:
//
//	go test -c -o /tmp/sinkjs.test ./sink/jetstream
//	/tmp/sinkjs.test -test.run '^$' -test.bench Publish -test.benchtime 50000x -test.count 1
func BenchmarkPublish(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		benchmarkPublish(b, func(ctx context.Context, js natsjs.JetStream, vs []benchResult) error {
			return handPublish(ctx, js, vs)
		})
	})
	b.Run("sink-push", func(b *testing.B) {
		benchmarkPublish(b, func(ctx context.Context, js natsjs.JetStream, vs []benchResult) error {
			src := source.Func(func(_ context.Context, yield func(benchResult) bool) error {
				for _, v := range vs {
					if !yield(v) {
						return nil
					}
				}
				return nil
			})
			return benchSink(ctx, js, src)
		})
	})
	b.Run("sink-run", func(b *testing.B) {
		benchmarkPublish(b, func(ctx context.Context, js natsjs.JetStream, vs []benchResult) error {
			return benchSink(ctx, js, source.Slice(vs))
		})
	})
}

func benchSink(ctx context.Context, js natsjs.JetStream, src *source.Of[benchResult]) error {
	snk := jetstream.New(js, "out.bench", jetstream.MsgID(benchMsgID), jetstream.MaxPending[benchResult](benchPending))
	return pipeline.New(src).Sink(snk).Run(ctx).Err
}

// handPublish is what a user writes with nats.go alone.
func handPublish(ctx context.Context, js natsjs.JetStream, vs []benchResult) error {
	futures := make(chan natsjs.PubAckFuture, benchPending)
	confirmed := make(chan error, 1)
	go func(futures <-chan natsjs.PubAckFuture) {
		for f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				confirmed <- err
				for range futures {
				}
				return
			}
		}
		confirmed <- nil
	}(futures)
	defer func() {
		if futures != nil { // an early return: let the goroutine end
			close(futures)
		}
	}()
	for _, v := range vs {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		m := &nats.Msg{Subject: "out.bench", Data: data, Header: nats.Header{}}
		m.Header.Set(natsjs.MsgIDHeader, benchMsgID(v))
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		select {
		case futures <- f:
		case err := <-confirmed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	close(futures)
	futures = nil
	select {
	case err := <-confirmed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func benchmarkPublish(b *testing.B, publish func(context.Context, natsjs.JetStream, []benchResult) error) {
	srv, err := natsrun.Start(b.TempDir())
	require.NoError(b, err)
	b.Cleanup(srv.Stop)
	nc, err := nats.Connect(srv.URL())
	require.NoError(b, err)
	b.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err = js.CreateStream(ctx, natsjs.StreamConfig{Name: "OUT", Subjects: []string{"out.>"},
		Storage: natsjs.FileStorage, Duplicates: 2 * time.Minute})
	require.NoError(b, err)
	vs := benchResults(b.N)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), int64(cputime.Process())
	require.NoError(b, publish(ctx, js, vs))
	b.StopTimer()
	elapsed, cpu := time.Since(start), int64(cputime.Process())-cpu
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/item")
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/item")
}
