package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Filter passes on the items for which keep returns true, in order, in the
// goroutine of the stage before it. Items left out are counted as Dropped.
// An error from keep is handled by the stage's error policy.
func Filter[T any](keep func(ctx context.Context, v T) (bool, error), opts ...Option) *Of[T, T] {
	return filterStage("filter", keep, opts, NextOf[T])
}

// filterStage is Filter, named kind by default.
func filterStage[T any](kind string, keep func(ctx context.Context, v T) (bool, error), opts []Option, nx func() Next) *Of[T, T] {
	if keep == nil {
		return invalidStage[T, T](collect(kind, opts).name, "nil filter function")
	}
	return keeperStage(kind, func() func(context.Context, T) (bool, error) { return keep }, opts, nx)
}

// keeperStage is a Filter whose keep function each run makes anew with
// keeper, for a filter with state of its own (Dedup).
func keeperStage[T any](kind string, keeper func() func(context.Context, T) (bool, error), opts []Option, nx func() Next) *Of[T, T] {
	o := collect(kind, opts)
	if o.err != "" {
		return invalidStage[T, T](o.name, o.err)
	}
	return newOf[T, T](o.name, nx, func(sc *flow.Scope, down flow.Port[T]) (flow.Port[T], error) {
		g, err := guard[T](sc, o)
		if err != nil {
			return nil, err
		}
		return &filterPort[T]{g: g, keep: keeper(), down: flow.Runs(down), dropped: sc.Run.Tally(flow.Dropped)}, nil
	})
}

type filterPort[T any] struct {
	g       *flow.Guard[T]
	keep    func(context.Context, T) (bool, error)
	down    flow.RunPort[T]
	dropped *flow.Tally
	n       int64
	out     []T        // PushRun's kept items, reused
	ts      []flow.Tag // and their tags, when the run has any
}

func (f *filterPort[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	idx := f.n
	f.n++
	keep, ok, err := flow.Call(ctx, f.g, idx, v, t, f.keep)
	if !ok {
		return err
	}
	if !keep {
		f.dropped.Settle(t)
		return nil
	}
	return f.down.Push(ctx, v, t)
}

func (f *filterPort[T]) Close(ctx context.Context) error { return f.down.Close(ctx) }

func (f *filterPort[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	out, outTs := f.out[:0], f.ts[:0]
	for i, v := range vs {
		t := flow.TagAt(ts, i)
		keep, ok, err := flow.Call(ctx, f.g, f.n, v, t, f.keep)
		f.n++
		if !ok {
			if err != nil {
				// The items before the failing one go on, as they would
				// one at a time.
				f.down.PushRun(ctx, out, outTs) //nolint:errcheck // err is the one to report
				clear(out)
				return err
			}
			continue
		}
		if !keep {
			f.dropped.Settle(t)
			continue
		}
		out = append(out, v)
		if ts != nil {
			outTs = append(outTs, t)
		}
	}
	if ts == nil {
		outTs = nil
	}
	err := f.down.PushRun(ctx, out, outTs)
	clear(out)
	f.out, f.ts = out[:0], outTs[:0]
	return err
}
