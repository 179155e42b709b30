package benchmarks

import (
	"context"
	"strconv"
	"sync"

	"golang.org/x/sync/errgroup"
)

// hand is a hand-written goroutine pipeline: a producer goroutine, a
// goroutine per stage (workers goroutines for a parallel one) and the
// consumer in the calling goroutine, joined by channels of capacity buf,
// each closed by the goroutine that sends on it. An errgroup owns the
// goroutines.
//
// Plain (ctx false) is the minimal version people write first, and the
// reference the benchtable ratios are taken to: plain sends, and a stage
// whose function fails keeps draining its input so that nothing blocks
// forever. With ctx every send also selects on ctx.Done() and a failure
// cancels the rest, as in errgroup's pipeline example and as conveyor does;
// that select costs about as much as the send itself.
type hand struct {
	buf int
	ctx bool
}

// name is the sub-benchmark name: chans/unbuffered, chans/buffered-64, ...
func (h hand) name() string {
	n := "chans/unbuffered"
	if h.buf > 0 {
		n = "chans/buffered-" + strconv.Itoa(h.buf)
	}
	if h.ctx {
		n += "+ctx"
	}
	return n
}

// hands are the hand-written variants every workload runs.
var hands = []hand{{buf: 0}, {buf: 64}, {buf: 64, ctx: true}}

// mapSum runs xs through one stage per element of fs, stage i on workers
// goroutines, and sums what comes out.
func (h hand) mapSum(xs []int, workers int, fs []mapFunc) (int, error) {
	g, ctx := errgroup.WithContext(context.Background())
	ch := produce(ctx, h, g, xs)
	for _, f := range fs {
		ch = mapStage(ctx, h, g, ch, workers, f)
	}
	sum := 0
	for v := range ch {
		sum += v
	}
	return sum, g.Wait()
}

// seqItem is an item numbered by the producer, so that the consumer of an
// ordered pipeline can put the results back in order.
type seqItem struct{ seq, v int }

// ordered runs xs through f on workers goroutines and folds the results in
// input order into a checksum. The consumer holds early results in a map
// until the ones before them arrive: the common hand-written way, which
// unlike conveyor's Ordered does not bound how far ahead a fast worker runs.
func (h hand) ordered(xs []int, workers int, f mapFunc) (int, error) {
	g, ctx := errgroup.WithContext(context.Background())
	in := make(chan seqItem, h.buf)
	g.Go(func() error {
		defer close(in)
		for i, v := range xs {
			if !h.ctx {
				in <- seqItem{i, v}
				continue
			}
			select {
			case in <- seqItem{i, v}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	out := mapStage(ctx, h, g, in, workers, func(ctx context.Context, it seqItem) (seqItem, error) {
		r, err := f(ctx, it.v)
		return seqItem{it.seq, r}, err
	})
	sum, next := 0, 0
	early := make(map[int]int)
	for it := range out {
		if it.seq != next {
			early[it.seq] = it.v
			continue
		}
		sum = checksum(sum, it.v)
		next++
		for v, ok := early[next]; ok; v, ok = early[next] {
			delete(early, next)
			sum = checksum(sum, v)
			next++
		}
	}
	return sum, g.Wait()
}

// batchSum sends xs in new slices of size items from the producer to the
// consumer, which sums each batch.
func (h hand) batchSum(xs []int, size int) (int, error) {
	g, ctx := errgroup.WithContext(context.Background())
	out := make(chan []int, h.buf)
	g.Go(func() error {
		defer close(out)
		var b []int
		for i, v := range xs {
			if b == nil {
				b = make([]int, 0, size)
			}
			if b = append(b, v); len(b) < size && i < len(xs)-1 {
				continue
			}
			if !h.ctx {
				out <- b
			} else {
				select {
				case out <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			b = nil
		}
		return nil
	})
	sum := 0
	for b := range out {
		sum += sumInts(b)
	}
	return sum, g.Wait()
}

// produce sends the elements of xs on a new channel.
func produce(ctx context.Context, h hand, g *errgroup.Group, xs []int) <-chan int {
	out := make(chan int, h.buf)
	g.Go(func() error {
		defer close(out)
		for _, v := range xs {
			if !h.ctx {
				out <- v
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	return out
}

// mapStage applies f on workers goroutines to what comes from in, unordered.
// The last worker to finish closes the output.
func mapStage[In, Out any](ctx context.Context, h hand, g *errgroup.Group, in <-chan In, workers int, f func(context.Context, In) (Out, error)) <-chan Out {
	out := make(chan Out, h.buf)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			var failed error
			for v := range in {
				if failed != nil {
					continue // plain: drain, so the producer is not stuck
				}
				r, err := f(ctx, v)
				if err != nil {
					if h.ctx {
						return err // cancels ctx: everyone stops
					}
					failed = err
					continue
				}
				if !h.ctx {
					out <- r
					continue
				}
				select {
				case out <- r:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return failed
		})
	}
	g.Go(func() error {
		wg.Wait()
		close(out)
		return nil
	})
	return out
}

// sumInts is the consumer's work in W6.
func sumInts(xs []int) int {
	s := 0
	for _, v := range xs {
		s += v
	}
	return s
}
