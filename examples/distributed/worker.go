package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/conveyor-go/conveyor/pipeline"
	sinkjs "github.com/conveyor-go/conveyor/sink/jetstream"
	sourcejs "github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

// Job is the work a message of JOBS asks for: its data is {"id": n}. Run
// (from the subject) and Delivery (from the message's metadata) are filled
// in by decodeJob.
type Job struct {
	ID       int    `json:"id"`
	Run      string `json:"-"`
	Delivery int    `json:"-"` // 1 for the first delivery, 2 for the next...
}

// Result is what a worker publishes to RESULTS for a job.
type Result struct {
	Run      string `json:"run"`
	JobID    int    `json:"job_id"`
	Worker   string `json:"worker"`
	Delivery int    `json:"delivery"` // of the job, to the worker that stored this result
}

// decodeJob makes a Job of a message, with its run and how many times the
// server has delivered it.
func decodeJob(m jetstream.Msg) (Job, error) {
	var j Job
	if err := json.Unmarshal(m.Data(), &j); err != nil {
		return j, err
	}
	j.Run = strings.TrimPrefix(m.Subject(), "jobs.")
	md, err := m.Metadata()
	if err != nil {
		return j, err
	}
	j.Delivery = int(md.NumDelivered)
	return j, nil
}

// workerPipeline is a worker's job: jobs from the consumer, a handler that
// takes cfg.work per job, cfg.par at a time, and results to RESULTS. Each
// job's message is acknowledged once its result is stored.
func workerPipeline(js jetstream.JetStream, cfg config, opts ...pipeline.Option) *pipeline.Pipeline {
	jobs := sourcejs.New[Job](js, jobsStream, consumerName,
		sourcejs.Decoder(decodeJob), sourcejs.FetchBatch(cfg.fetch)).Named("jobs")
	handle := stage.Func(func(ctx context.Context, j Job) (Result, error) {
		if err := sleep(ctx, cfg.work); err != nil {
			return Result{}, err
		}
		return Result{Run: j.Run, JobID: j.ID, Worker: cfg.name, Delivery: j.Delivery}, nil
	})
	results := sinkjs.New(js, "results", sinkjs.Subject(resultSubject), sinkjs.MsgID(resultID)).Named("results")
	return pipeline.New(jobs, opts...).
		ParMap(cfg.par, handle, stage.Name("work"), stage.Label(func(j Job) string { return "job " + strconv.Itoa(j.ID) })).
		Sink(results)
}

// sleep is the job's I/O: it waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWorker runs a worker process until SIGINT or SIGTERM, which drain it,
// and returns its exit code: 128 + the signal after a drain (143 for
// SIGTERM), 1 if it failed.
func runWorker(cfg config, stdout, stderr io.Writer) int {
	// The signals are ours from the start, so that one that comes before
	// the pipeline runs (while connecting) drains it as soon as it starts
	// rather than killing the process: the run gets them through
	// WithStopChannel, which is WithSignals for signals the caller receives.
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)

	logger := newLogger(stderr)
	defer func() { _ = logger.Sync() }()

	// A worker rides through a server restart (sourcejs/sinkjs MaxOutage):
	// it reconnects for ever, trying every 250ms rather than nats.go's 2s,
	// so that a short outage costs a short pause.
	nc, err := nats.Connect(cfg.natsURL, nats.Name("conveyor worker "+cfg.name),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		logger.Error("connecting to NATS", zap.String("url", cfg.natsURL), zap.Error(err))
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		logger.Error("JetStream", zap.Error(err))
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = setUp(ctx, js, cfg, false)
	cancel()
	if err != nil {
		logger.Error("setting up the streams", zap.Error(err))
		return 1
	}
	logger.Info("working", zap.String("url", cfg.natsURL), zap.Int("par", cfg.par), zap.Duration("work", cfg.work))

	status := workerPipeline(js, cfg, pipeline.WithStopChannel(stop), pipeline.WithLogger(logger)).Run(context.Background())
	fmt.Fprintf(stdout, "%v (exit code %d)\n", status, status.Code)
	return status.Code
}

// newLogger logs at Info and above to w, without times: the coordinator
// prefixes each line with the worker's name.
func newLogger(w io.Writer) *zap.Logger {
	ec := zap.NewDevelopmentEncoderConfig()
	ec.TimeKey, ec.CallerKey = "", ""
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.AddSync(w), zap.InfoLevel))
}
