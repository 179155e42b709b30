package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Unbatch passes on every element of every slice it takes, in order, in the
// goroutine of the stage before it: the inverse of Batch. An empty or nil
// slice passes nothing on, and the source items it stands for are counted
// as Dropped. The elements of a slice share its source items, as FlatMap's
// children do: they are counted once all the elements have reached their
// outcome, with the worst of those outcomes (so after Batch then Unbatch,
// every source item the sink accepted is Done).
//
// The elements are passed on without copying the slice: the stages after
// Unbatch get them one by one, and Unbatch keeps no reference to the slice.
func Unbatch[T any](opts ...Option) *Of[[]T, T] {
	o := collect("unbatch", opts)
	if o.err != "" {
		return invalidStage[[]T, T](o.name, o.err)
	}
	return newOf[[]T, T](o.name, NextOf[T], func(sc *flow.Scope, down flow.Port[T]) (flow.Port[[]T], error) {
		return &unbatchPort[T]{down: flow.Runs(down), dropped: sc.Run.Tally(flow.Dropped)}, nil
	})
}

type unbatchPort[T any] struct {
	down    flow.RunPort[T]
	dropped *flow.Tally
	ts      []flow.Tag // the tags of one slice's elements, reused
}

// Push passes on the elements of vs as one run, each tagged with a share of
// t: the group that settles t once every element has settled.
func (u *unbatchPort[T]) Push(ctx context.Context, vs []T, t flow.Tag) error {
	if len(vs) == 0 {
		u.dropped.Settle(t)
		return nil
	}
	ct := t.Split(len(vs))
	ts := u.ts[:0]
	for range vs {
		ts = append(ts, ct)
	}
	err := u.down.PushRun(ctx, vs, ts)
	clear(ts) // keep no references to groups between slices
	u.ts = ts[:0]
	return err
}

// PushRun unbatches the slices of the run one by one: the elements of each
// share a tag of their own.
func (u *unbatchPort[T]) PushRun(ctx context.Context, vss [][]T, ts []flow.Tag) error {
	for i, vs := range vss {
		if err := u.Push(ctx, vs, flow.TagAt(ts, i)); err != nil {
			return err
		}
	}
	return nil
}

func (u *unbatchPort[T]) Close(ctx context.Context) error { return u.down.Close(ctx) }
