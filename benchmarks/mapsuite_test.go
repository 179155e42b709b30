package benchmarks

import (
	"context"
	"fmt"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// mapWorkload is the shape of W1 to W4: every item of xs goes through the
// stages fs in turn, on workers goroutines where the implementation is
// concurrent, and a sink sums the results.
type mapWorkload struct {
	xs      []int
	fs      []mapFunc
	workers int
	// before and after run around each sub-benchmark's measure, for
	// workloads with metrics of their own; either may be nil.
	before func()
	after  func(b *testing.B, r result)
}

// run runs every implementation of w as a sub-benchmark of b.
func (w mapWorkload) run(b *testing.B) {
	n := len(w.xs)
	f := compose(w.fs)
	sum := want(w.xs, f)
	bench := func(name string, body func() (int, error)) {
		b.Run(name, func(b *testing.B) {
			if w.before != nil {
				w.before()
			}
			r := measure(b, n, sum, body)
			if w.after != nil {
				w.after(b, r)
			}
		})
	}

	bench("loop", w.loop)
	for _, h := range hands {
		bench(h.name(), func() (int, error) { return h.mapSum(w.xs, w.workers, w.fs) })
	}
	if w.workers == 1 {
		fused := func(p *pipeline.Pipeline, f mapFunc) *pipeline.Pipeline { return p.Map(stage.Func(f)) }
		bench("conveyor/map", conveyorRun(w.xs, false, fused, w.fs))
		// The same without the per-stage metrics, for what they cost.
		bench("conveyor/map/unmetered", conveyorRun(w.xs, false, fused, w.fs, pipeline.WithoutMetrics()))
		hop := func(p *pipeline.Pipeline, f mapFunc) *pipeline.Pipeline { return p.ParMap(1, stage.Func(f)) }
		bench("conveyor/parmap-1/unordered/unmetered", conveyorRun(w.xs, false, hop, w.fs, pipeline.WithoutMetrics()))
	}
	for _, order := range []string{"unordered", "ordered"} {
		var opts []stage.Option
		if order == "ordered" {
			opts = append(opts, stage.Ordered())
		}
		name := fmt.Sprintf("conveyor/parmap-%d/%s", w.workers, order)
		bench(name, conveyorRun(w.xs, false, func(p *pipeline.Pipeline, f mapFunc) *pipeline.Pipeline {
			return p.ParMap(w.workers, stage.Func(f), opts...)
		}, w.fs))
	}
	bench("conc/stream", func() (int, error) { return streamMap(w.xs, w.workers, f, add) })
	body, stop := pooledMap(concPool, w.xs, w.workers, f)
	bench(concPool.name, body)
	stop()
	bench("conc/iter", func() (int, error) { return iterMap(w.xs, w.workers, f) })
	for _, p := range pools {
		body, stop := pooledMap(p, w.xs, w.workers, f)
		bench(p.name, body)
		stop()
	}
}

// loop is the sequential loop. It calls the stages through the same func
// values as the other implementations, in straight-line code for the
// workloads' one and three stages so that the loop pays no more than it
// must.
func (w mapWorkload) loop() (int, error) {
	ctx := context.Background()
	sum := 0
	switch len(w.fs) {
	case 1:
		f := w.fs[0]
		for _, v := range w.xs {
			r, err := f(ctx, v)
			if err != nil {
				return 0, err
			}
			sum += r
		}
	case 3:
		f, g, h := w.fs[0], w.fs[1], w.fs[2]
		for _, v := range w.xs {
			a, err := f(ctx, v)
			if err != nil {
				return 0, err
			}
			if a, err = g(ctx, a); err != nil {
				return 0, err
			}
			if a, err = h(ctx, a); err != nil {
				return 0, err
			}
			sum += a
		}
	default:
		f := compose(w.fs)
		for _, v := range w.xs {
			r, err := f(ctx, v)
			if err != nil {
				return 0, err
			}
			sum += r
		}
	}
	return sum, nil
}

// conveyorRun builds, once, the pipeline from a slice of xs through one
// stage per element of fs (made by stage) into a sink that sums the results,
// or folds them into a checksum if ordered, and returns a body that runs it
// with the pipeline options opts.
func conveyorRun(xs []int, ordered bool, stage func(*pipeline.Pipeline, mapFunc) *pipeline.Pipeline, fs []mapFunc, opts ...pipeline.Option) func() (int, error) {
	sum := 0
	p := pipeline.New(source.Slice(xs), opts...)
	for _, f := range fs {
		p = stage(p, f)
	}
	// Two sinks rather than a fold function, so that the sink pays no call
	// the hand-written consumer does not.
	if ordered {
		p = p.Sink(sink.Func(func(_ context.Context, v int) error {
			sum = checksum(sum, v)
			return nil
		}))
	} else {
		p = p.Sink(sink.Func(func(_ context.Context, v int) error {
			sum += v
			return nil
		}))
	}
	return func() (int, error) {
		sum = 0
		if st := p.Run(context.Background()); !st.OK() {
			return 0, fmt.Errorf("conveyor: %v", st)
		}
		return sum, nil
	}
}
