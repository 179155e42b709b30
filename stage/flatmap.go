package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// FlatMap passes on every item of the slice f returns for each input, in
// order, in the goroutine of the stage before it. An empty or nil slice
// passes nothing on.
func FlatMap[In, Out any](f func(ctx context.Context, in In) ([]Out, error), opts ...Option) *Of[In, Out] {
	o := collect("flatmap", opts)
	if f == nil {
		return invalidStage[In, Out](o.name, "nil flatmap function")
	}
	if o.err != "" {
		return invalidStage[In, Out](o.name, o.err)
	}
	return newOf[In, Out](o.name, NextOf[Out], func(sc *flow.Scope, down flow.Port[Out]) (flow.Port[In], error) {
		g, err := guard[In](sc, o)
		if err != nil {
			return nil, err
		}
		return &flatMapPort[In, Out]{g: g, f: f, down: down, run: sc.Run}, nil
	})
}

// Flat makes a FlatProc from a function, for pipeline's FlatMap, which
// cannot infer the element type itself.
func Flat[In, Out any](f func(ctx context.Context, in In) ([]Out, error)) FlatProc[In, Out] {
	return FlatProc[In, Out]{f: f}
}

// FlatProc is a FlatMap function with its types fixed; make it with Flat.
type FlatProc[In, Out any] struct {
	f func(ctx context.Context, in In) ([]Out, error)
}

// FlatTask is the untyped face of a FlatProc taken by pipeline's FlatMap.
type FlatTask interface {
	FlatMapStage(opts ...Option) Stage
}

// FlatMapStage returns FlatMap(f, opts...).
func (p FlatProc[In, Out]) FlatMapStage(opts ...Option) Stage { return FlatMap(p.f, opts...) }

type flatMapPort[In, Out any] struct {
	g    *flow.Guard[In]
	f    func(context.Context, In) ([]Out, error)
	down flow.Port[Out]
	run  *flow.Run
	n    int64
}

func (m *flatMapPort[In, Out]) Push(ctx context.Context, v In, t flow.Tag) error {
	idx := m.n
	m.n++
	outs, ok, err := flow.Call(ctx, m.g, idx, v, t, m.f)
	if !ok {
		return err
	}
	if len(outs) == 0 {
		m.run.Settle(t, flow.Dropped)
		return nil
	}
	// The children share the parent's tag: it settles when they all have.
	ct := t.Split(len(outs))
	for _, out := range outs {
		if err := m.down.Push(ctx, out, ct); err != nil {
			return err
		}
	}
	return nil
}

func (m *flatMapPort[In, Out]) Close(ctx context.Context) error { return m.down.Close(ctx) }
