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
		return &tapPort[T]{g: g, f: call, down: down}, nil
	})
}

type tapPort[T any] struct {
	g    *flow.Guard[T]
	f    func(context.Context, T) (struct{}, error)
	down flow.Port[T]
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
