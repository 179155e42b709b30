// Package source holds where a pipeline's items come from: a generator
// function (the seed's build_items), a slice, an iter.Seq or iter.Seq2, a
// channel, several sources merged; and WithReceipts, the generator of a
// queue that must learn how each item left the pipeline (source/jetstream).
// A generator hands an input it cannot make an item of to Reject, which
// settles it under the pipeline's error policy, as a stage's failure is.
//
// A source runs in its own goroutine, started and awaited by the run. It
// stops early when the run fails or is cancelled, and when the run is
// drained (the first SIGINT): then it emits nothing more, and the items it
// already emitted go on to the sink.
package source

import (
	"context"
	"errors"
	"reflect"
	"strconv"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/stage"
)

// Source is any source value.
type Source interface {
	// Name is used in errors and logs.
	Name() string
	// Out is the type of the items the source emits.
	Out() reflect.Type
	// Next builds the stages that may follow the source in an untyped chain.
	Next() stage.Next
	// Err says why the source cannot run, or is nil.
	Err() error
	flow.Starter
}

// Of is a source of T items. It holds only configuration: each run of a
// pipeline calls its generator anew.
type Of[T any] struct {
	name    string
	invalid string
	gen     func(ctx context.Context, yield func(T) bool) error
	// genR is WithReceipts' generator; gen is then unused.
	genR  func(ctx context.Context, yield func(T, Receipt) bool) error
	items []T  // Slice's items, when slice is set; gen is then unused
	slice bool // the source is a Slice: it emits runs of items
	// flushes says the generator stops by itself once its context is done
	// and yields what it holds first (Merge), so yield takes items after
	// a drain too.
	flushes bool
}

var _ Source = (*Of[int])(nil)

// Func makes a source from a generator: gen calls yield for each item, in
// order, and returns when it has no more (nil) or cannot go on (an error,
// which fails the run with code 1). When yield returns false, gen must
// return: the run is stopping (a failure downstream, cancellation or a
// drain); what gen returns then is ignored. ctx is done when the run is
// cancelled or drained; a generator that blocks must watch it.
//
// The generator may set totals on a stats registry it captures (the seed's
// items_total), as plain Go.
//
// gen may hand yield from goroutine to goroutine, but must not call it from
// several at once. That is checked only in builds with -race, at no cost
// to others: there such a call fails the run (code 1) with "yield called
// from several goroutines at once"; without -race it is a data race, and
// the run's counts are wrong.
func Func[T any](gen func(ctx context.Context, yield func(T) bool) error) *Of[T] {
	if gen == nil {
		return &Of[T]{name: "source", invalid: "nil generator"}
	}
	return &Of[T]{name: "source", gen: gen}
}

// Invalid returns a source that cannot run: a pipeline using it reports
// reason, naming the source, before anything starts (CodeInvalid).
// Packages that build sources use it to report bad arguments without
// panicking.
func Invalid[T any](name, reason string) *Of[T] {
	return &Of[T]{name: name, invalid: reason}
}

// Named returns a copy of the source named name in errors and logs.
func (s *Of[T]) Named(name string) *Of[T] {
	c := *s
	c.name = name
	return &c
}

// Name returns the source's name; "source" unless set with Named.
func (s *Of[T]) Name() string { return s.name }

// Out returns the type of the emitted items.
func (s *Of[T]) Out() reflect.Type { return flow.TypeOf[T]() }

// Next returns the builder of stages that may follow the source.
func (s *Of[T]) Next() stage.Next { return stage.NextOf[T]() }

// Err says why the source cannot run, or returns nil.
func (s *Of[T]) Err() error {
	if s.invalid == "" {
		return nil
	}
	return &flow.BuildError{Stage: s.name, Reason: s.invalid}
}

// Start registers the source's goroutine with the run. It is called by the
// pipeline.
func (s *Of[T]) Start(sc *flow.Scope, down any) error {
	if s.invalid != "" {
		return sc.Invalid(s.invalid)
	}
	d, err := flow.PortOf[T](down)
	if err != nil {
		return err
	}
	if s.slice {
		sc.Go(func(ctx context.Context) error { return s.runSlice(ctx, sc, d) })
		return nil
	}
	sc.Go(func(ctx context.Context) error { return s.run(ctx, sc, d) })
	return nil
}

func (s *Of[T]) run(ctx context.Context, sc *flow.Scope, down flow.Port[T]) error {
	// The generator sees a context that a drain cancels too; items it has
	// emitted are pushed under the run's context, so a drain never drops an
	// item already taken from the source.
	genCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc.Run.OnDrain(cancel)

	in := sc.Run.TallyIn()
	var n int64
	var pushErr error
	stopped := false // yield said false: the generator must return, and what it returns is ignored
	push := func(v T, t flow.Tag) bool {
		// v is already taken from the generator (a channel source has
		// received it), so it is emitted even if a drain has just begun.
		in.Add(1)
		n++
		if err := down.Push(ctx, v, t); err != nil {
			pushErr = err
			stopped = true
			return false
		}
		if genCtx.Err() != nil && !s.flushes {
			stopped = true
			return false
		}
		return true
	}
	yield := func(v T) bool {
		if stopped || ctx.Err() != nil {
			stopped = true
			return false
		}
		return push(v, flow.One())
	}
	emit := func(v T, r Receipt) bool {
		if stopped || ctx.Err() != nil {
			stopped = true
			return false
		}
		if r == nil {
			return push(v, flow.One())
		}
		return push(v, flow.WithReceipt(r))
	}
	var guard yieldGuard
	if raceEnabled {
		yield, emit = guardYield(&guard, yield), guardEmit(&guard, emit)
	}
	// The generator (and Merge's, for its sources) also finds in its
	// context the run, to count what it leaves behind, and the source's
	// run (genRun): the run's own context, which only a hard stop or a
	// failure cancels, and what Reject needs. push checks genCtx itself,
	// not through these two layers, at every item.
	g := &genRun{ctx: ctx, sc: sc, stop: cancel}
	genErr := s.generate(flow.WithRun(context.WithValue(genCtx, genKey{}, g), sc.Run), yield, emit)
	switch {
	case guard.misused.Load():
		return &flow.Error{Stage: sc.Name, Index: sc.Index, Label: "#" + strconv.FormatInt(n, 10), Err: errConcurrentYield}
	case pushErr != nil:
		return pushErr
	case ctx.Err() != nil:
		return ctx.Err()
	case g.failed() != nil:
		return g.failed() // a rejected input failed the run: whatever the generator returned
	case genErr != nil && !stopped && !(sc.Run.Draining() && errors.Is(genErr, context.Canceled)):
		var fe *flow.Error
		if errors.As(genErr, &fe) && fe.Stage == sc.Name {
			return genErr // already names the source and the item (a decoder's failure)
		}
		return &flow.Error{Stage: sc.Name, Index: sc.Index, Label: "#" + strconv.FormatInt(n, 10), Err: genErr}
	}
	return down.Close(ctx)
}

// runContext returns the run's context that genCtx, a generator's context,
// carries: it is done when the run stops hard or fails, not when it
// drains. It returns genCtx when it carries none.
func runContext(genCtx context.Context) context.Context {
	if g, ok := genCtx.Value(genKey{}).(*genRun); ok {
		return g.ctx
	}
	return genCtx
}

// generate calls the generator, turning a panic into an error: Func's with
// yield, WithReceipts' with emit.
func (s *Of[T]) generate(ctx context.Context, yield func(T) bool, emit func(T, Receipt) bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = flow.NewPanicError(r)
		}
	}()
	if s.genR != nil {
		return s.genR(ctx, emit)
	}
	return s.gen(ctx, yield)
}
