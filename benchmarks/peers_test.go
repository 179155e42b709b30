package benchmarks

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/sourcegraph/conc/iter"
	"github.com/sourcegraph/conc/pool"
	"github.com/sourcegraph/conc/stream"
	"golang.org/x/sync/errgroup"
)

// pooled is a peer library that runs one task per item on a bounded number
// of goroutines. The pool libraries have no stages and no output stream: a
// task writes its result where the caller tells it (an index of a results
// slice), and run returns once every task is done.
type pooled struct {
	name string
	// start readies the library to run task on at most workers goroutines.
	// run(n) submits task(0) ... task(n-1), blocking while the library is
	// saturated, and waits for them; stop releases what start took.
	start func(workers int, task func(i int)) (run func(n int) error, stop func())
}

// concPool is sourcegraph/conc's pool. A conc pool is used once (Wait ends
// it), so each run makes one.
var concPool = pooled{name: "conc/pool", start: func(workers int, task func(int)) (func(int) error, func()) {
	return func(n int) error {
		p := pool.New().WithMaxGoroutines(workers)
		for i := range n {
			p.Go(func() { task(i) })
		}
		p.Wait()
		return nil
	}, func() {}
}}

// pools are the other pool libraries, in the order they are reported after
// the conc variants.
var pools = []pooled{
	{name: "pond", start: func(workers int, task func(int)) (func(int) error, func()) {
		// A bounded queue, as every other variant is bounded; pond's default
		// queue is unbounded and would hold all the items at once.
		p := pond.NewPool(workers, pond.WithQueueSize(64))
		return func(n int) error {
			g := p.NewGroup()
			for i := range n {
				g.Submit(func() { task(i) })
			}
			return g.Wait()
		}, p.StopAndWait
	}},
	{name: "ants", start: func(workers int, task func(int)) (func(int) error, func()) {
		// The generic pool with a function takes the index as its argument,
		// so submitting allocates no closure.
		var wg sync.WaitGroup
		p, err := ants.NewPoolWithFuncGeneric(workers, func(i int) {
			defer wg.Done()
			task(i)
		})
		if err != nil {
			return func(int) error { return err }, func() {}
		}
		return func(n int) error {
			for i := range n {
				wg.Add(1)
				if err := p.Invoke(i); err != nil {
					wg.Done()
					wg.Wait()
					return err
				}
			}
			wg.Wait()
			return nil
		}, func() { _ = p.ReleaseTimeout(time.Second) } // waits for the workers to exit
	}},
	{name: "errgroup", start: func(workers int, task func(int)) (func(int) error, func()) {
		return func(n int) error {
			var g errgroup.Group
			g.SetLimit(workers)
			for i := range n {
				g.Go(func() error { task(i); return nil })
			}
			return g.Wait()
		}, func() {}
	}},
}

// firstErr keeps the first error reported by concurrent tasks.
type firstErr struct {
	once sync.Once
	err  error
}

func (e *firstErr) set(err error) { e.once.Do(func() { e.err = err }) }

// pooledMap returns a body for measure that maps xs with f through a peer
// pool and sums the results once the pool is done, and a stop for the pool.
func pooledMap(p pooled, xs []int, workers int, f mapFunc) (body func() (int, error), stop func()) {
	ctx := context.Background()
	var out []int
	var fail *firstErr
	run, stop := p.start(workers, func(i int) {
		r, err := f(ctx, xs[i])
		if err != nil {
			fail.set(err)
			return
		}
		out[i] = r
	})
	return func() (int, error) {
		out, fail = make([]int, len(xs)), new(firstErr)
		if err := run(len(xs)); err != nil {
			return 0, err
		}
		return sumInts(out), fail.err
	}, stop
}

// pooledSum is pooledMap for an unordered sink: each task adds its result
// to an atomic sum as soon as it has it.
func pooledSum(p pooled, xs []int, workers int, f mapFunc) (body func() (int, error), stop func()) {
	ctx := context.Background()
	var sum atomic.Int64
	var fail *firstErr
	run, stop := p.start(workers, func(i int) {
		r, err := f(ctx, xs[i])
		if err != nil {
			fail.set(err)
			return
		}
		sum.Add(int64(r))
	})
	return func() (int, error) {
		sum.Store(0)
		fail = new(firstErr)
		if err := run(len(xs)); err != nil {
			return 0, err
		}
		return int(sum.Load()), fail.err
	}, stop
}

// streamMap maps xs with f on a conc stream of workers goroutines; its
// callbacks run in input order on one goroutine and fold the results with
// fold (a sum, or an order-sensitive checksum).
func streamMap(xs []int, workers int, f mapFunc, fold func(acc, v int) int) (int, error) {
	ctx := context.Background()
	s := stream.New().WithMaxGoroutines(workers)
	acc := 0
	var fail error
	for _, v := range xs {
		s.Go(func() stream.Callback {
			r, err := f(ctx, v)
			return func() {
				if err != nil && fail == nil {
					fail = err
				}
				acc = fold(acc, r)
			}
		})
	}
	s.Wait()
	return acc, fail
}

// iterMap maps xs with f using conc's iter.Mapper on workers goroutines and
// sums the results slice it returns.
func iterMap(xs []int, workers int, f mapFunc) (int, error) {
	ctx := context.Background()
	var fail firstErr
	out := iter.Mapper[int, int]{MaxGoroutines: workers}.Map(xs, func(v *int) int {
		r, err := f(ctx, *v)
		if err != nil {
			fail.set(err)
		}
		return r
	})
	return sumInts(out), fail.err
}

func add(acc, v int) int { return acc + v }
