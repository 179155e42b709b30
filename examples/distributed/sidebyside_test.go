package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/cputime"
	"github.com/conveyor-go/conveyor/internal/natsrun"
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
// embedded server: 50,000 or 1,000,000 jobs of about 100 bytes of JSON are
// published to a work queue before the timer starts, and the consumer is
// made after them; the timer runs while the worker decodes each job,
// transforms it, publishes its result with a Nats-Msg-Id, and acknowledges
// the job once the result is confirmed, until RESULTS holds every result.
// handwritten is nats.go alone (runHandWorker); conveyor is
// source/jetstream (UntilEmpty), Map and sink/jetstream (MsgID), with
// defaults and with FetchBatch(256)/MaxPending(1024). jobs/s counts to the
// last result stored; end-ms is how long after it the worker returned (for
// conveyor, UntilEmpty's end-of-queue detection), and jobs/s-to-end counts
// to that return, as a batch job's user sees it. allocs/job, cores and
// cpu-us/job count the whole process's, the embedded server's included:
// compare them between the variants, not to zero. cores says how much of
// the machine the run had (the server and the worker share it): jobs/s
// follows it on a machine others use too, cpu-us/job much less.
//
// Each round (b.N of them, one with -benchtime 1x) runs the whole workload
// on a server of its own; publishing the jobs (about 20 s for 1M) is
// outside the timer. benchtable runs the test binary -count times, each
// with -test.count 1, so that the variants interleave, and prints the
// medians with each conveyor variant's ratio to the hand-written worker:
//
//	cd benchmarks
//	go run ./cmd/benchtable -dir ../examples/distributed -bench 'ScaleOut|WorkerProcesses' -benchtime 1x -count 5
//	go run ./cmd/benchtable -dir ../examples/distributed -bench 'ScaleOutWorker/jobs=50k' -benchtime 1x -count 5
func BenchmarkScaleOutWorker(b *testing.B) {
	for _, size := range []struct {
		name string
		jobs int
	}{{"50k", 50_000}, {"1M", 1_000_000}} {
		b.Run("jobs="+size.name, func(b *testing.B) {
			b.Run("handwritten", func(b *testing.B) {
				benchmarkScaleOut(b, size.jobs, func(ctx context.Context, js jetstream.JetStream) error {
					return runHandWorker(ctx, js, size.jobs)
				})
			})
			conveyor := func(w conveyorWorker) func(*testing.B) {
				return func(b *testing.B) { benchmarkScaleOut(b, size.jobs, w.run) }
			}
			b.Run("conveyor", conveyor(conveyorWorker{untilEmpty: true}))
			b.Run("conveyor-fetch256-pending1024", conveyor(conveyorWorker{fetch: 256, maxPending: 1024, untilEmpty: true}))
		})
	}
}

// conveyorWorker is the same worker as runHandWorker, in conveyor.
type conveyorWorker struct {
	fetch, maxPending int              // the source's FetchBatch and the sink's MaxPending; 0: their defaults
	untilEmpty        bool             // end once the consumer is empty (a batch job)
	stop              <-chan os.Signal // drains the run when it receives
}

func (w conveyorWorker) run(ctx context.Context, js jetstream.JetStream) error {
	srcOpts := []sourcejs.Option{sourcejs.Decoder(decodeSBSJob)}
	if w.untilEmpty {
		srcOpts = append(srcOpts, sourcejs.UntilEmpty())
	}
	if w.fetch > 0 {
		srcOpts = append(srcOpts, sourcejs.FetchBatch(w.fetch))
	}
	sinkOpts := []sinkjs.Option[sbsResult]{sinkjs.MsgID(sbsResultID)}
	if w.maxPending > 0 {
		sinkOpts = append(sinkOpts, sinkjs.MaxPending[sbsResult](w.maxPending))
	}
	var opts []pipeline.Option
	if w.stop != nil {
		opts = append(opts, pipeline.WithStopChannel(w.stop))
	}
	status := pipeline.New(sourcejs.New[sbsJob](js, sbsJobsStream, sbsConsumer, srcOpts...), opts...).
		Map(stage.Func(func(_ context.Context, j sbsJob) (sbsResult, error) { return transformSBS(j), nil })).
		Sink(sinkjs.New(js, sbsResultSubject, sinkOpts...)).
		Run(ctx)
	var sig *pipeline.SignalError
	if w.stop != nil && errors.As(status.Err, &sig) {
		return nil // drained
	}
	return status.Err
}

// sbsServer is an embedded server with the side-by-side benchmarks'
// streams, for one round.
type sbsServer struct {
	srv     *natsrun.Server
	js      jetstream.JetStream // the benchmark's: publishing the jobs, counting the results
	results jetstream.Stream
	conns   []*nats.Conn
}

func newSBSServer(ctx context.Context, b *testing.B) *sbsServer {
	s := &sbsServer{srv: startServer(b)}
	b.Cleanup(s.close)
	s.js = s.connect(b)
	_, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: sbsJobsStream, Subjects: []string{"jobs.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	s.results, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: sbsResultsStream, Subjects: []string{"results.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	require.NoError(b, err)
	return s
}

// connect is a connection of its own, as a worker in a process of its own
// has.
func (s *sbsServer) connect(b *testing.B) jetstream.JetStream {
	nc, err := nats.Connect(s.srv.URL())
	require.NoError(b, err)
	s.conns = append(s.conns, nc)
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	return js
}

// close closes the connections and stops the server, at the end of a
// round.
func (s *sbsServer) close() {
	for _, nc := range s.conns {
		nc.Close()
	}
	s.srv.Stop()
}

func (s *sbsServer) publish(ctx context.Context, b *testing.B, jobs int) {
	require.NoError(b, publishAll(ctx, s.js, sbsJobSubject, jobs, func(id int) any { return newSBSJob(id) }))
}

func (s *sbsServer) createConsumer(ctx context.Context, b *testing.B) {
	_, err := s.js.CreateConsumer(ctx, sbsJobsStream, jetstream.ConsumerConfig{Durable: sbsConsumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: sbsMaxAckPending, MaxDeliver: -1})
	require.NoError(b, err)
}

// awaitResults returns once RESULTS holds n results, or fails b if
// failed reports a failure first.
func (s *sbsServer) awaitResults(ctx context.Context, b *testing.B, n int, failed func() error) {
	for {
		info, err := s.results.Info(ctx)
		require.NoError(b, err)
		if info.State.Msgs >= uint64(n) {
			return
		}
		require.NoError(b, failed())
		time.Sleep(2 * time.Millisecond)
	}
}

func benchmarkScaleOut(b *testing.B, jobs int, worker func(context.Context, jetstream.JetStream) error) {
	var stored, ended, cpu time.Duration
	var mallocs uint64
	b.StopTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		s := newSBSServer(ctx, b)
		s.publish(ctx, b, jobs)
		s.createConsumer(ctx, b)
		wjs := s.connect(b)

		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu0 := cputime.Process()
		b.StartTimer()
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- worker(ctx, wjs) }()
		returned := false
		s.awaitResults(ctx, b, jobs, func() error {
			if returned {
				return errors.New("the worker returned before every result was stored")
			}
			select {
			case err := <-done:
				done <- err
				// Its last results may have been stored after the count
				// just read: the next count, after its return, must
				// find them all.
				returned = true
				return err
			default:
				return nil
			}
		})
		b.StopTimer()
		stored += time.Since(start)
		cpu += cputime.Process() - cpu0
		runtime.ReadMemStats(&after)
		require.NoError(b, <-done)
		ended += time.Since(start)
		mallocs += after.Mallocs - before.Mallocs
		s.close()
		cancel()
	}

	n := float64(b.N * jobs)
	b.ReportMetric(n/stored.Seconds(), "jobs/s")
	b.ReportMetric(float64(mallocs)/n, "allocs/job")
	b.ReportMetric(float64((ended-stored).Milliseconds())/float64(b.N), "end-ms")
	b.ReportMetric(n/ended.Seconds(), "jobs/s-to-end")
	if cputime.Process() >= 0 { // measured on this system
		b.ReportMetric(cpu.Seconds()/stored.Seconds(), "cores")
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-us/job")
	}
}
