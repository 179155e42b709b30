// Command sample is the seed's sample_run.py, ported: 100 numbers in
// batches of 2, handled by 8 workers that each sleep a random time per
// number (mean 0.5 s) and count whether n!/cos(n) is positive or negative.
//
// It logs one line per finished batch ("done item: 18 / 50 time spent: ..."),
// prints the final ExitStatus and stats, then the stats as one JSON line for
// scripts, and exits with the status code. Ctrl-C drains the run (in-flight
// batches finish); a second Ctrl-C stops it at once.
//
//	go run ./examples/sample                # the seed's run, about 6.3 s
//	go run ./examples/sample -sleep 0.01    # the same in a tenth of a second
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
	"go.uber.org/zap"
)

func main() {
	cfg := config{}
	flag.IntVar(&cfg.workers, "workers", 8, "number of ParMap workers")
	flag.IntVar(&cfg.items, "items", 100, "number of items")
	flag.IntVar(&cfg.batch, "batch", 2, "items per batch")
	flag.Float64Var(&cfg.sleep, "sleep", 1, "scale of the random sleep per item, in seconds (mean sleep is half of it)")
	flag.BoolVar(&cfg.quiet, "quiet", false, "log only warnings and errors")
	flag.BoolVar(&cfg.progress, "progress", true, "show progress on stderr: a bar on a terminal, log lines elsewhere")
	flag.Parse()

	logger := newLogger(cfg.quiet)
	defer func() { _ = logger.Sync() }()

	reg := stats.New()
	var opts []pipeline.Option
	if cfg.progress {
		total := func() int64 { return reg.Get("items_total") }
		opts = append(opts, pipeline.WithProgress(stats.NewProgress(os.Stderr, stats.ProgressTotal(total))))
	}
	status := build(cfg, reg, logger, opts...).Run(context.Background())

	fmt.Println(status)
	// The seed's ideal, 100 x 0.5 s / 8 = 6.25 s, assumes the mean sleep;
	// this run's own ideal is the sleep it actually drew, spread evenly.
	ideal := time.Duration(slept.Load()) / time.Duration(max(cfg.workers, 1))
	fmt.Printf("Ideal for this run's sleeps: %.2fs (%.1f%% efficiency)\n",
		ideal.Seconds(), 100*ideal.Seconds()/status.Duration.Seconds())
	fmt.Println(reg.Snapshot())
	line, _ := json.Marshal(reg.Snapshot())
	fmt.Println(string(line))
	os.Exit(status.Code)
}

type config struct {
	workers, items, batch int
	sleep                 float64
	quiet, progress       bool
}

// build is the seed's whole job as one chain. It is separate from main so
// the test can run it in-process.
func build(cfg config, reg *stats.Registry, logger *zap.Logger, opts ...pipeline.Option) *pipeline.Pipeline {
	batches := 0
	if cfg.batch > 0 {
		batches = (cfg.items + cfg.batch - 1) / cfg.batch
	}
	// The seed's build_items: set the totals, then yield the numbers.
	src := source.Func(func(ctx context.Context, yield func(int) bool) error {
		reg.SetTotal("items_total", int64(cfg.items))
		reg.SetTotal("batches_total", int64(batches))
		for i := range cfg.items {
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
	// The seed's log_item: "<batch number> / <batches>".
	label := func(b []int) string { return fmt.Sprintf("%d / %d", b[0]/cfg.batch, batches) }
	h := stage.PerWorker(func(_ context.Context, w stage.Worker) (stage.Handler[[]int, stats.Delta], error) {
		return &handler{sleep: cfg.sleep, log: w.Logger}, nil
	})
	opts = append(opts, pipeline.WithLogger(logger), pipeline.WithStats(reg), pipeline.WithSignals())
	return pipeline.New(src, opts...).
		Batch(cfg.batch).
		ParMap(cfg.workers, h, stage.Label(label)).
		Sink(stats.Sink(reg))
}

// slept adds up every handler's sleep, to compare the run with its ideal.
var slept atomic.Int64

// handler is the seed's SampleHandler: one per worker, so it may keep state
// without locks.
type handler struct {
	sleep float64
	log   *zap.Logger
}

// Handle is the seed's _handle_item: it returns this batch's stat deltas
// (the seed's _reset_stats + inc_stats_vals) for stats.Sink to merge.
func (h *handler) Handle(ctx context.Context, nums []int) (stats.Delta, error) {
	delta := stats.Delta{"items_processed": 0, "items_positive": 0, "items_negative": 0}
	for _, n := range nums {
		d := time.Duration(rand.Float64() * h.sleep * float64(time.Second))
		slept.Add(int64(d))
		if err := sleep(ctx, d); err != nil {
			return nil, err
		}
		delta["items_processed"]++
		if factorialOverCos(n) > 0 {
			delta["items_positive"]++
		} else {
			delta["items_negative"]++
		}
	}
	return delta, nil
}

// factorialOverCos is the seed's math.factorial(n) / math.cos(n).
func factorialOverCos(n int) float64 {
	return math.Gamma(float64(n)+1) / math.Cos(float64(n))
}

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

func newLogger(quiet bool) *zap.Logger {
	c := zap.NewDevelopmentConfig()
	c.DisableStacktrace = true
	c.EncoderConfig.EncodeCaller = nil
	c.EncoderConfig.CallerKey = ""
	if quiet {
		c.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	}
	l, err := c.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}
