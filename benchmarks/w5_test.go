package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/stage"
)

// BenchmarkW5Order is W5: 200k items of about 0.1 µs of CPU each on 2
// workers, keeping input order or not. The items are cheap so that what
// ordering costs shows; benchtable prints each X/ordered over X/unordered.
//
// An ordered variant's sink folds the results into an order-sensitive
// checksum, so a variant that loses the order fails; an unordered one sums
// them. For conc, ordered is its stream and unordered its pool; the other
// pool libraries have no ordered streaming mode, and their unordered tasks
// add to an atomic sum.
func BenchmarkW5Order(b *testing.B) {
	const workers = 2
	w := newBurner(100 * time.Nanosecond)
	xs := ints(size(200_000))
	f := w.Handle
	sum, ordered := want(xs, f), 0
	for _, v := range xs {
		r, _ := f(context.Background(), v)
		ordered = checksum(ordered, r)
	}
	bench := func(name string, want int, body func() (int, error)) {
		b.Run(name, func(b *testing.B) { measure(b, len(xs), want, body) })
	}

	bench("loop", ordered, func() (int, error) {
		ctx := context.Background()
		h := 0
		for _, v := range xs {
			r, err := f(ctx, v)
			if err != nil {
				return 0, err
			}
			h = checksum(h, r)
		}
		return h, nil
	})
	for _, h := range hands {
		bench(h.name()+"/unordered", sum, func() (int, error) {
			return h.mapSum(xs, workers, []mapFunc{f})
		})
		bench(h.name()+"/ordered", ordered, func() (int, error) {
			return h.ordered(xs, workers, f)
		})
	}
	parMap := func(opts ...stage.Option) func(*pipeline.Pipeline, mapFunc) *pipeline.Pipeline {
		return func(p *pipeline.Pipeline, f mapFunc) *pipeline.Pipeline {
			return p.ParMap(workers, stage.Func(f), opts...)
		}
	}
	bench("conveyor/parmap-2/unordered", sum, conveyorRun(xs, false, parMap(), []mapFunc{f}))
	bench("conveyor/parmap-2/ordered", ordered, conveyorRun(xs, true, parMap(stage.Ordered()), []mapFunc{f}))
	body, stop := pooledSum(concPool, xs, workers, f)
	bench("conc/unordered", sum, body)
	stop()
	bench("conc/ordered", ordered, func() (int, error) { return streamMap(xs, workers, f, checksum) })
	for _, p := range pools {
		body, stop := pooledSum(p, xs, workers, f)
		bench(p.name+"/unordered", sum, body)
		stop()
	}
}
