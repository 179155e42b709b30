// Command throughput runs a pipeline with a deliberately slow stage and
// prints the run's report: a row per stage with its throughput, latency and
// the shares of its time spent busy, idle and backpressured, then the
// verdict naming the bottleneck.
//
// The job: orders are generated, parsed (cheap), enriched by a lookup that
// takes about a millisecond each (the slow stage, a ParMap), grouped in
// batches and written. The enrich stage is busy all the time and the stages
// before it wait on it, so the verdict names it.
//
//	go run ./examples/throughput                # 2 enrich workers
//	go run ./examples/throughput -workers 16    # 8 times the throughput; enrich still sets the pace
//	go run ./examples/throughput -json          # the report as JSON
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.items, "items", 2000, "orders to generate")
	flag.IntVar(&cfg.workers, "workers", 2, "enrich workers")
	flag.DurationVar(&cfg.lookup, "lookup", time.Millisecond, "time an enrich lookup takes")
	asJSON := flag.Bool("json", false, "print the report as JSON instead of a table")
	flag.Parse()

	var opts []pipeline.Option
	if !*asJSON {
		opts = append(opts, pipeline.WithReport(os.Stdout))
	}
	status := build(cfg, io.Discard, opts...).Run(context.Background())
	if *asJSON {
		b, err := status.Report.JSON()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(b))
	}
	fmt.Println(status)
	os.Exit(status.Code)
}

type config struct {
	items, workers int
	lookup         time.Duration
}

type order struct {
	ID       int
	Raw      string
	Customer string
	Amount   float64
}

// build is the job; out receives the written batches.
func build(cfg config, out io.Writer, opts ...pipeline.Option) *pipeline.Pipeline {
	src := source.Func(func(ctx context.Context, yield func(string) bool) error {
		for i := range cfg.items {
			if !yield(strconv.Itoa(i) + ",customer-" + strconv.Itoa(i%37) + "," + strconv.Itoa(i%1000) + ".50") {
				return nil
			}
		}
		return nil
	})
	parse := stage.Map(func(_ context.Context, line string) (order, error) {
		var o order
		_, err := fmt.Sscanf(line, "%d,%9s", &o.ID, &o.Customer)
		o.Raw = line
		return o, err
	}, stage.Name("parse"))
	enrich := stage.ParMap(cfg.workers, stage.Func(func(ctx context.Context, o order) (order, error) {
		// A lookup in another service: the deliberately slow stage.
		t := time.NewTimer(cfg.lookup)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return o, ctx.Err()
		}
		o.Amount = float64(o.ID%1000) + 0.5
		return o, nil
	}), stage.Name("enrich"))
	write := sink.Func(func(_ context.Context, batch []order) error {
		for _, o := range batch {
			if _, err := fmt.Fprintf(out, "%d %s %.2f\n", o.ID, o.Customer, o.Amount); err != nil {
				return err
			}
		}
		return nil
	}).Named("write")
	return pipeline.New(src, opts...).Via(parse).Via(enrich).Batch(50).Sink(write)
}
