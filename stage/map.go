package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Map applies f to every item, in order, in the goroutine of the stage
// before it (no channel, no extra goroutine). Use ParMap for concurrency.
func Map[In, Out any](f func(ctx context.Context, in In) (Out, error), opts ...Option) *Of[In, Out] {
	return mapHandler("map", Func(f), opts)
}

func mapHandler[In, Out any](kind string, p Proc[In, Out], opts []Option) *Of[In, Out] {
	o := collect(kind, opts)
	if !p.valid() {
		return invalidStage[In, Out](o.name, "nil handler")
	}
	if o.err != "" {
		return invalidStage[In, Out](o.name, o.err)
	}
	return newOf[In, Out](o.name, NextOf[Out], func(sc *flow.Scope, down flow.Port[Out]) (flow.Port[In], error) {
		g, err := guard[In](sc, o)
		if err != nil {
			return nil, err
		}
		return &mapPort[In, Out]{g: g, f: call(p.shared), down: flow.Runs(down)}, nil
	})
}

type mapPort[In, Out any] struct {
	g    *flow.Guard[In]
	f    func(context.Context, In) (Out, error)
	down flow.RunPort[Out]
	n    int64
	out  []Out      // PushRun's results, reused
	ts   []flow.Tag // and their tags, when the run has any
}

func (m *mapPort[In, Out]) Push(ctx context.Context, v In, t flow.Tag) error {
	idx := m.n
	m.n++
	out, ok, err := flow.Call(ctx, m.g, idx, v, t, m.f)
	if !ok {
		return err
	}
	return m.down.Push(ctx, out, t)
}

func (m *mapPort[In, Out]) Close(ctx context.Context) error { return m.down.Close(ctx) }

func (m *mapPort[In, Out]) PushRun(ctx context.Context, vs []In, ts []flow.Tag) error {
	out, outTs, err := flow.CallRun(ctx, m.g, m.n, vs, ts, m.f, m.out[:0], m.ts[:0])
	m.n += int64(len(vs))
	if ts == nil {
		outTs = nil // the results are fresh source items too
	}
	// On a failure, the items before the failing one still go on, as they
	// would one at a time, and err is the one to report.
	if perr := m.down.PushRun(ctx, out, outTs); err == nil {
		err = perr
	}
	clear(out) // keep no references to results between runs
	m.out, m.ts = out[:0], outTs[:0]
	return err
}
