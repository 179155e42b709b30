package benchmarks

import (
	"context"
	"fmt"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/sourcegraph/conc/iter"
	"github.com/sourcegraph/conc/stream"
)

// BenchmarkW6Batch is W6: 1M ints grouped into batches of 100 that the
// consumer sums. Every implementation but the loop makes a new slice per
// batch, as whoever receives a batch owns it; the loop reuses one.
//
// The hand-written pipelines batch in the producer goroutine and send each
// batch to the consumer: one hop per batch. conveyor/batch runs the source,
// the fused Batch and the sink in one goroutine: no hop. In
// conveyor/batch+parmap-1 a ParMap worker sums each batch and the sink adds
// the sums: two hops per batch (to the worker, then to the sink). The pool
// libraries (one worker) get a task per batch, from batches made before the
// tasks are submitted; conc/stream makes them as it submits.
func BenchmarkW6Batch(b *testing.B) {
	const batch = 100
	xs := ints(size(1_000_000))
	total := sumInts(xs)
	bench := func(name string, body func() (int, error)) {
		b.Run(name, func(b *testing.B) { measure(b, len(xs), total, body) })
	}

	bench("loop", func() (int, error) {
		sum := 0
		buf := make([]int, 0, batch)
		for _, v := range xs {
			buf = append(buf, v)
			if len(buf) == batch {
				sum += sumInts(buf)
				buf = buf[:0]
			}
		}
		return sum + sumInts(buf), nil
	})
	for _, h := range hands {
		bench(h.name(), func() (int, error) { return h.batchSum(xs, batch) })
	}

	sum := 0
	addSums := sink.Func(func(_ context.Context, v int) error { sum += v; return nil })
	sumBatch := stage.Func(func(_ context.Context, b []int) (int, error) { return sumInts(b), nil })
	conveyor := func(p *pipeline.Pipeline) func() (int, error) {
		return func() (int, error) {
			sum = 0
			if st := p.Run(context.Background()); !st.OK() {
				return 0, fmt.Errorf("conveyor: %v", st)
			}
			return sum, nil
		}
	}
	bench("conveyor/batch", conveyor(pipeline.New(source.Slice(xs)).Batch(batch).
		Sink(sink.Func(func(_ context.Context, b []int) error { sum += sumInts(b); return nil }))))
	bench("conveyor/batch+parmap-1", conveyor(pipeline.New(source.Slice(xs)).Batch(batch).
		ParMap(1, sumBatch).Sink(addSums)))

	bench("conc/stream", func() (int, error) {
		s := stream.New().WithMaxGoroutines(1)
		sum := 0
		submit := func(b []int) {
			s.Go(func() stream.Callback {
				part := sumInts(b)
				return func() { sum += part }
			})
		}
		var b []int
		for _, v := range xs {
			if b == nil {
				b = make([]int, 0, batch)
			}
			if b = append(b, v); len(b) == batch {
				submit(b)
				b = nil
			}
		}
		if len(b) > 0 {
			submit(b)
		}
		s.Wait()
		return sum, nil
	})
	pooledBatches := func(p pooled) {
		var batches [][]int
		var parts []int
		run, stop := p.start(1, func(i int) { parts[i] = sumInts(batches[i]) })
		defer stop()
		bench(p.name, func() (int, error) {
			batches = makeBatches(xs, batch)
			parts = make([]int, len(batches))
			if err := run(len(batches)); err != nil {
				return 0, err
			}
			return sumInts(parts), nil
		})
	}
	pooledBatches(concPool)
	bench("conc/iter", func() (int, error) {
		parts := iter.Mapper[[]int, int]{MaxGoroutines: 1}.Map(makeBatches(xs, batch), func(b *[]int) int {
			return sumInts(*b)
		})
		return sumInts(parts), nil
	})
	for _, p := range pools {
		pooledBatches(p)
	}
}

// makeBatches groups xs into new slices of size items (the last may be
// shorter), item by item as a batching stage does.
func makeBatches(xs []int, size int) [][]int {
	out := make([][]int, 0, (len(xs)+size-1)/size)
	var b []int
	for _, v := range xs {
		if b == nil {
			b = make([]int, 0, size)
		}
		if b = append(b, v); len(b) == size {
			out = append(out, b)
			b = nil
		}
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}
