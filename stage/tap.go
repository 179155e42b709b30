package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Tap calls f on every item and passes the item on unchanged, in order, in
// the goroutine of the stage before it. An error from f is handled by the
// stage's error policy (under Skip the item is not passed on).
func Tap[T any](f func(ctx context.Context, v T) error, opts ...Option) *Of[T, T] {
	return tapStage(f, opts, NextOf[T])
}

func tapStage[T any](f func(ctx context.Context, v T) error, opts []Option, nx func() Next) *Of[T, T] {
	o := collect("tap", opts)
	if f == nil {
		return invalidStage[T, T](o.name, "nil tap function")
	}
	if o.err != "" {
		return invalidStage[T, T](o.name, o.err)
	}
	call := func(ctx context.Context, v T) (struct{}, error) { return struct{}{}, f(ctx, v) }
	return newOf[T, T](o.name, nx, func(sc *flow.Scope, down flow.Port[T]) (flow.Port[T], error) {
		g, err := guard[T](sc, o)
		if err != nil {
			return nil, err
		}
		return &tapPort[T]{g: g, f: call, down: flow.Runs(down)}, nil
	})
}

type tapPort[T any] struct {
	g    *flow.Guard[T]
	f    func(context.Context, T) (struct{}, error)
	down flow.RunPort[T]
	n    int64
}

func (t *tapPort[T]) Push(ctx context.Context, v T, tag flow.Tag) error {
	idx := t.n
	t.n++
	if _, ok, err := flow.Call(ctx, t.g, idx, v, tag, t.f); !ok {
		return err
	}
	return t.down.Push(ctx, v, tag)
}

func (t *tapPort[T]) Close(ctx context.Context) error { return t.down.Close(ctx) }

// PushRun passes on the items of the run as they are, in runs between the
// items the error policy left out.
func (t *tapPort[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	from := 0 // the first item of the run not yet passed on
	for i, v := range vs {
		_, ok, err := flow.Call(ctx, t.g, t.n, v, flow.TagAt(ts, i), t.f)
		t.n++
		if ok {
			continue
		}
		if err != nil {
			t.pass(ctx, vs, ts, from, i) //nolint:errcheck // err is the one to report
			return err
		}
		if err := t.pass(ctx, vs, ts, from, i); err != nil {
			return err
		}
		from = i + 1
	}
	return t.pass(ctx, vs, ts, from, len(vs))
}

func (t *tapPort[T]) pass(ctx context.Context, vs []T, ts []flow.Tag, from, to int) error {
	if from == to {
		return nil
	}
	if ts != nil {
		ts = ts[from:to]
	}
	return t.down.PushRun(ctx, vs[from:to], ts)
}
