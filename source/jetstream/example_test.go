package jetstream_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	sinkjs "github.com/conveyor-go/conveyor/sink/jetstream"
	sourcejs "github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

type Job struct{ ID int }

type Result struct {
	JobID  int
	Square int
}

// A worker: jobs from a work queue, results to another stream, each job
// acknowledged once its result is stored. Run as many of these processes
// as you like; the work queue shares the jobs among them.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	srv, _ := natsrun.Start(dir) // or any NATS server with JetStream
	defer srv.Stop()
	nc, _ := nats.Connect(srv.URL())
	defer nc.Close()
	js, _ := natsjs.New(nc)
	ctx := context.Background()

	// The streams and the consumer, made once by whoever comes first.
	js.CreateStream(ctx, natsjs.StreamConfig{Name: "JOBS", Subjects: []string{"jobs"}, Retention: natsjs.WorkQueuePolicy})
	js.CreateStream(ctx, natsjs.StreamConfig{Name: "RESULTS", Subjects: []string{"results"}})
	js.CreateConsumer(ctx, "JOBS", natsjs.ConsumerConfig{Durable: "workers", AckPolicy: natsjs.AckExplicitPolicy, AckWait: 30 * time.Second})
	for i := 1; i <= 5; i++ {
		js.Publish(ctx, "jobs", fmt.Appendf(nil, `{"ID": %d}`, i))
	}

	jobs := sourcejs.New[Job](js, "JOBS", "workers", sourcejs.UntilEmpty(), sourcejs.MaxWait(100*time.Millisecond))
	results := sinkjs.New(js, "results", sinkjs.MsgID(func(r Result) string { return strconv.Itoa(r.JobID) }))
	square := stage.Func(func(_ context.Context, j Job) (Result, error) { return Result{j.ID, j.ID * j.ID}, nil })
	status := pipeline.New(jobs).ParMap(2, square).Sink(results).Run(ctx)

	fmt.Println(status.Code, status.Counts.Done)
	info, _ := js.Stream(ctx, "RESULTS")
	fmt.Println("results stored:", info.CachedInfo().State.Msgs)
	// Output:
	// 0 5
	// results stored: 5
}
