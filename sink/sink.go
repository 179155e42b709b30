// Package sink holds where a pipeline's items go: a function called for
// each item, a slice that collects them, a channel, or nowhere; and New,
// the building block of sinks that write to an output opened per run.
//
// A sink runs in the goroutine of the stage before it and is never called
// concurrently, so its function needs no lock. The source items an item
// stands for count as done (ExitStatus.Counts.Done) once the sink has
// accepted it without error.
//
// Items whose source must learn of their fate (source.Receipt: a queue's
// message, acknowledged then) settle when the sink has stored them: for
// Func, as soon as the function returns nil; for a sink made with New,
// after each Write of a Durable Writer, after each flush of a Flusher, and
// otherwise when the Writer commits at the end of the input.
//
// At a crash (the process killed), the source delivers again every item
// whose receipt had not settled, some of which the sink may already have
// written: a Func sink's or a Durable Writer's items stored just before
// the crash, a Flusher's items written out before their flush settled
// them (by a flush under way, or by a full buffer). Delivery is at least once; a sink that must not store an item
// twice dedups it by a key (sqlsink.Upsert) or an id (sink/jetstream's
// MsgID).
package sink

import (
	"context"
	"reflect"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Sink is any sink value.
type Sink interface {
	// Name is used in errors and logs.
	Name() string
	// In is the type of the items the sink takes.
	In() reflect.Type
	// Err says why the sink cannot run, or is nil.
	Err() error
	flow.Terminal
}

// Of is a sink of T items. It holds only configuration and can be used by
// several pipelines.
type Of[T any] struct {
	name    string
	invalid string
	push    func(ctx context.Context, v T) error
	flush   func(ctx context.Context) error
	open    func(ctx context.Context) (Writer[T], error) // New's sinks: a Writer per run
	every   time.Duration                                // New's sinks: how often a Flusher flushes
}

var _ Sink = (*Of[int])(nil)

// Func makes a sink that calls f for each item, in the order the stage
// before it gives them. An error from f is handled by the pipeline's error
// policy, as for any stage.
func Func[T any](f func(ctx context.Context, v T) error) *Of[T] {
	if f == nil {
		return &Of[T]{name: "sink", invalid: "nil sink function"}
	}
	return &Of[T]{name: "sink", push: f}
}

// Invalid returns a sink that cannot run: a pipeline using it reports
// reason, naming the sink, before anything starts. Packages that build sinks
// use it to report bad arguments without panicking.
func Invalid[T any](name, reason string) *Of[T] {
	return &Of[T]{name: name, invalid: reason}
}

// Named returns a copy of the sink named name in errors and logs.
func (s *Of[T]) Named(name string) *Of[T] {
	c := *s
	c.name = name
	return &c
}

// Name returns the sink's name.
func (s *Of[T]) Name() string { return s.name }

// In returns the type of the items the sink takes.
func (s *Of[T]) In() reflect.Type { return flow.TypeOf[T]() }

// Err says why the sink cannot run, or returns nil.
func (s *Of[T]) Err() error {
	if s.invalid == "" {
		return nil
	}
	return &flow.BuildError{Stage: s.name, Reason: s.invalid}
}

// Attach returns the Port that feeds the sink. It is called by the pipeline.
func (s *Of[T]) Attach(sc *flow.Scope) (any, error) {
	if s.invalid != "" {
		return nil, sc.Invalid(s.invalid)
	}
	g, err := flow.NewGuard[T](sc, nil, nil)
	if err != nil {
		return nil, err
	}
	done := sc.Run.Tally(flow.Done)
	if s.open != nil {
		return flow.Metered[T](sc, s.attachWriter(sc, g, done)), nil
	}
	push := s.push
	call := func(ctx context.Context, v T) (struct{}, error) { return struct{}{}, push(ctx, v) }
	return flow.Metered[T](sc, &port[T]{g: g, call: call, push: push, flush: s.flush, done: done}), nil
}

type port[T any] struct {
	g     *flow.Guard[T]
	call  func(context.Context, T) (struct{}, error)
	flush func(context.Context) error
	done  *flow.Tally
	n     int64
	push  func(context.Context, T) error
	ts    []flow.Tag // PushRun's accepted items' tags, when the run has any
}

// Push takes one item through flow.Call and the call adapter. Handing it to
// PushRun as a run of one would drop the adapter but costs more per item
// (27 against 19 ns for a generator into this sink, measured).
func (p *port[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	idx := p.n
	p.n++
	if _, ok, err := flow.Call(ctx, p.g, idx, v, t, p.call); !ok {
		return err
	}
	p.done.Settle(t)
	return nil
}

func (p *port[T]) Close(ctx context.Context) error {
	if p.flush == nil {
		return nil
	}
	return p.flush(ctx)
}

func (p *port[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	n, outTs, err := flow.CallRunSink(ctx, p.g, p.n, vs, ts, p.push, p.ts[:0])
	p.n += int64(len(vs))
	if ts == nil {
		p.done.Add(int64(n)) // each stands for one source item
	} else {
		for _, t := range outTs {
			p.done.Settle(t)
		}
	}
	p.ts = outTs[:0]
	return err
}
