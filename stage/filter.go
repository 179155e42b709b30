package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Filter passes on the items for which keep returns true, in order, in the
// goroutine of the stage before it. Items left out are counted as Dropped.
// An error from keep is handled by the stage's error policy.
func Filter[T any](keep func(ctx context.Context, v T) (bool, error), opts ...Option) *Of[T, T] {
	return filterStage(keep, opts, NextOf[T])
}

func filterStage[T any](keep func(ctx context.Context, v T) (bool, error), opts []Option, nx func() Next) *Of[T, T] {
	o := collect("filter", opts)
	if keep == nil {
		return invalidStage[T, T](o.name, "nil filter function")
	}
	if o.err != "" {
		return invalidStage[T, T](o.name, o.err)
	}
	return newOf[T, T](o.name, nx, func(sc *flow.Scope, down flow.Port[T]) (flow.Port[T], error) {
		g, err := guard[T](sc, o)
		if err != nil {
			return nil, err
		}
		return &filterPort[T]{g: g, keep: keep, down: down, dropped: sc.Run.Tally(flow.Dropped)}, nil
	})
}

type filterPort[T any] struct {
	g       *flow.Guard[T]
	keep    func(context.Context, T) (bool, error)
	down    flow.Port[T]
	dropped *flow.Tally
	n       int64
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
