package main

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	sinkjs "github.com/conveyor-go/conveyor/sink/jetstream"
	sourcejs "github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

// The streams, consumer and subjects of BenchmarkScaleOutWorker, on a
// server of its own for each run.
const (
	sbsJobsStream    = "JOBS"
	sbsResultsStream = "RESULTS"
	sbsConsumer      = "workers"
	sbsJobSubject    = "jobs.bench"
	sbsResultSubject = "results.bench.w1"
	// sbsMaxAckPending is the consumer's: above what either worker holds
	// (Consume's 500 plus the in-flight publishes), so that it bounds
	// neither.
	sbsMaxAckPending = 4096
)

// sbsJob is a job of about 100 bytes of JSON.
type sbsJob struct {
	ID         int    `json:"id"`
	Customer   string `json:"customer"`
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int    `json:"price_cents"`
	Note       string `json:"note"`
	Delivery   int    `json:"-"`
}

// sbsResult is what a worker publishes for a job.
type sbsResult struct {
	JobID      int    `json:"job_id"`
	Customer   string `json:"customer"`
	TotalCents int    `json:"total_cents"`
	Delivery   int    `json:"delivery"`
}

func newSBSJob(id int) sbsJob {
	return sbsJob{ID: id, Customer: "cust-" + strconv.Itoa(id%997), SKU: "SKU-" + strconv.Itoa(100000+id%5003),
		Qty: 1 + id%7, PriceCents: 199 + id%10000, Note: "leave at the door"}
}

// decodeSBSJob is both workers' decoder: the JSON, and the delivery count
// from the metadata.
func decodeSBSJob(m jetstream.Msg) (sbsJob, error) {
	var j sbsJob
	if err := json.Unmarshal(m.Data(), &j); err != nil {
		return j, err
	}
	md, err := m.Metadata()
	if err != nil {
		return j, err
	}
	j.Delivery = int(md.NumDelivered)
	return j, nil
}

// transformSBS is both workers' work on a job.
func transformSBS(j sbsJob) sbsResult {
	return sbsResult{JobID: j.ID, Customer: strings.ToUpper(j.Customer), TotalCents: j.Qty * j.PriceCents, Delivery: j.Delivery}
}

func sbsResultID(r sbsResult) string { return "bench/" + strconv.Itoa(r.JobID) }

// BenchmarkScaleOutWorker runs one worker, in this process, against an
// embedded server: b.N jobs of about 100 bytes of JSON are published to a
// work queue before the timer starts, and the consumer is made after them;
// the timer runs while the worker decodes each job, transforms it,
// publishes its result with a Nats-Msg-Id, and acknowledges the job once
// the result is confirmed, until RESULTS holds b.N results. handwritten
// is nats.go alone (runHandWorker); conveyor is source/jetstream
// (UntilEmpty), Map and sink/jetstream (MsgID), with defaults and with
// FetchBatch(256)/MaxPending(1024). jobs/s counts to the last result
// stored; end-ms is how long after it the worker returned (for conveyor,
// UntilEmpty's end-of-queue detection), and jobs/s-to-end counts to that
// return, as a batch job's user sees it. allocs/job counts the whole
// process's, the embedded server's included: compare them between the
// variants, not to zero.
//
// -count runs each variant's rounds one after another; to interleave them,
// run the test binary several times with -test.count 1.
//
//	go test -run '^$' -bench ScaleOutWorker -benchtime 50000x -count 5 ./examples/distributed
func BenchmarkScaleOutWorker(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		benchmarkScaleOut(b, func(ctx context.Context, js jetstream.JetStream) error {
			return runHandWorker(ctx, js, b.N)
		})
	})
	conveyor := func(fetch, maxPending int) func(*testing.B) {
		return func(b *testing.B) {
			benchmarkScaleOut(b, func(ctx context.Context, js jetstream.JetStream) error {
				return runConveyorWorker(ctx, js, fetch, maxPending)
			})
		}
	}
	b.Run("conveyor", conveyor(0, 0))
	b.Run("conveyor-fetch256-pending1024", conveyor(256, 1024))
}

// runConveyorWorker is the same worker as runHandWorker, in conveyor; fetch
// and maxPending are the source's FetchBatch and the sink's MaxPending, or
// their defaults if 0.
func runConveyorWorker(ctx context.Context, js jetstream.JetStream, fetch, maxPending int) error {
	srcOpts := []sourcejs.Option{sourcejs.Decoder(decodeSBSJob), sourcejs.UntilEmpty()}
	if fetch > 0 {
		srcOpts = append(srcOpts, sourcejs.FetchBatch(fetch))
	}
	sinkOpts := []sinkjs.Option[sbsResult]{sinkjs.MsgID(sbsResultID)}
	if maxPending > 0 {
		sinkOpts = append(sinkOpts, sinkjs.MaxPending[sbsResult](maxPending))
	}
	status := pipeline.New(sourcejs.New[sbsJob](js, sbsJobsStream, sbsConsumer, srcOpts...)).
		Map(stage.Func(func(_ context.Context, j sbsJob) (sbsResult, error) { return transformSBS(j), nil })).
		Sink(sinkjs.New(js, sbsResultSubject, sinkOpts...)).
		Run(ctx)
	return status.Err
}

func benchmarkScaleOut(b *testing.B, worker func(context.Context, jetstream.JetStream) error) {
	srv := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	connect := func() jetstream.JetStream {
		nc, err := nats.Connect(srv.URL())
		require.NoError(b, err)
		b.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(b, err)
		return js
	}
	js := connect() // the benchmark's: publishing the jobs, counting the results

	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sbsJobsStream, Subjects: []string{"jobs.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	results, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: sbsResultsStream, Subjects: []string{"results.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	require.NoError(b, err)
	require.NoError(b, publishAll(ctx, js, sbsJobSubject, b.N, func(id int) any { return newSBSJob(id) }))
	_, err = js.CreateConsumer(ctx, sbsJobsStream, jetstream.ConsumerConfig{Durable: sbsConsumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: sbsMaxAckPending, MaxDeliver: -1})
	require.NoError(b, err)
	wjs := connect() // the worker's, as in a process of its own

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- worker(ctx, wjs) }()
	var stored time.Duration
	for stored == 0 {
		select {
		case err := <-done:
			require.NoError(b, err, "the worker ended early")
			done <- nil
		case <-time.After(2 * time.Millisecond):
		}
		info, err := results.Info(ctx)
		require.NoError(b, err)
		if info.State.Msgs >= uint64(b.N) {
			stored = time.Since(start)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	require.NoError(b, <-done)
	ended := time.Since(start)

	b.ReportMetric(float64(b.N)/stored.Seconds(), "jobs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/job")
	b.ReportMetric(float64((ended - stored).Milliseconds()), "end-ms")
	b.ReportMetric(float64(b.N)/ended.Seconds(), "jobs/s-to-end")
}
