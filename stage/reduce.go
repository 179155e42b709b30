package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Reduce folds every item into an accumulator, in order, in the goroutine of
// the stage before it, and passes on one value, the final accumulator, when
// its input ends. Each run starts from init; f returns the accumulator after
// v. An input that ends with no item gives init.
//
// The value passed on stands for every source item folded into it, as a
// batch stands for its members: they are all Done once the sink accepts it.
// An error from f is handled by the stage's error policy: under Skip the
// item is left out of the fold and the accumulator stays as it was, and
// Retry calls f again with the same accumulator. So f should return a new
// accumulator rather than change acc in place when it may fail; and since
// init is shared by every run of the stage, an accumulator that is a map, a
// slice or a pointer must not be changed in place at all if the stage runs
// more than once: copy it on the first call instead.
//
// A run cut short (a failure, a cancellation) passes nothing on: only the
// end of the input (including a drain) emits the value.
func Reduce[T, A any](init A, f func(ctx context.Context, acc A, v T) (A, error), opts ...Option) *Of[T, A] {
	o := collect("reduce", opts)
	if f == nil {
		return invalidStage[T, A](o.name, "nil reduce function")
	}
	if o.err != "" {
		return invalidStage[T, A](o.name, o.err)
	}
	return newOf[T, A](o.name, NextOf[A], func(sc *flow.Scope, down flow.Port[A]) (flow.Port[T], error) {
		g, err := guard[T](sc, o)
		if err != nil {
			return nil, err
		}
		r := &reducePort[T, A]{g: g, acc: init, down: down}
		// step folds one item in: the accumulator changes only when f
		// succeeds, so a retry or a skip sees it as it was.
		r.step = func(ctx context.Context, v T) (struct{}, error) {
			acc, err := f(ctx, r.acc, v)
			if err == nil {
				r.acc = acc
			}
			return struct{}{}, err
		}
		return r, nil
	})
}

type reducePort[T, A any] struct {
	g    *flow.Guard[T]
	step func(context.Context, T) (struct{}, error)
	acc  A
	tags tagFold // of the items folded into acc
	down flow.Port[A]
	n    int64
	out  []struct{} // CallRun's results: only their number matters
	ts   []flow.Tag // the tags of the items folded, when the run has any
}

func (r *reducePort[T, A]) Push(ctx context.Context, v T, t flow.Tag) error {
	idx := r.n
	r.n++
	if _, ok, err := flow.Call(ctx, r.g, idx, v, t, r.step); !ok {
		return err
	}
	r.tags.add(t)
	return nil
}

// PushRun folds the run's items in under one deferred recover; on a
// failure, the items before the failing one stay folded in, as they would
// one at a time.
func (r *reducePort[T, A]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	out, outTs, err := flow.CallRun(ctx, r.g, r.n, vs, ts, r.step, r.out[:0], r.ts[:0])
	r.n += int64(len(vs))
	if ts == nil {
		r.tags.plus(int64(len(out))) // each stands for one source item
	} else {
		for _, t := range outTs {
			r.tags.add(t)
		}
		clear(outTs)
	}
	r.out, r.ts = out[:0], outTs[:0]
	return err
}

// Close passes the accumulator on, then closes the stage after it.
func (r *reducePort[T, A]) Close(ctx context.Context) error {
	acc, t := r.acc, r.tags.take()
	var zero A
	r.acc = zero
	if err := r.down.Push(ctx, acc, t); err != nil {
		return err
	}
	return r.down.Close(ctx)
}

// tagFold merges the tags of any number of items into one, as Tag.Merge
// does, in O(n log n) time for n items. Merging them one after another
// would copy the FlatMap groups the merged tag holds at each step, which is
// quadratic in the number of FlatMap children folded in. It keeps partial
// merges of 1, 2, 4, ... tags, like the digits of a binary counter, and
// merges two only when they stand for as many tags: each group is then
// copied once per level, at most log2(n) times. Plain tags (from the source,
// or batches of them) merge in constant time either way.
type tagFold struct {
	n      int64      // fresh source items, tagged One each
	levels []flow.Tag // levels[i], when used, merges 2^i tags
	used   uint64     // bit i is set when levels[i] is
}

// add merges t in.
func (f *tagFold) add(t flow.Tag) {
	for i := 0; ; i++ {
		if i == len(f.levels) {
			f.levels = append(f.levels, t)
			f.used |= 1 << i
			return
		}
		if f.used&(1<<i) == 0 {
			f.levels[i] = t
			f.used |= 1 << i
			return
		}
		t = f.levels[i].Merge(t)
		f.levels[i] = flow.Tag{}
		f.used &^= 1 << i
	}
}

// plus merges in n fresh source items.
func (f *tagFold) plus(n int64) { f.n += n }

// take returns the merge of every tag added since the last take, and starts
// afresh.
func (f *tagFold) take() flow.Tag {
	t := flow.Tag{}.Plus(f.n)
	for i := range f.levels {
		if f.used&(1<<i) != 0 {
			t = t.Merge(f.levels[i])
		}
	}
	clear(f.levels) // keep no references to groups
	f.n, f.levels, f.used = 0, f.levels[:0], 0
	return t
}
