package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Tee makes a sink, named "tee", that hands every item to each of sinks in
// turn, in the order given, in the goroutine that calls it: it starts no
// goroutine, and each sink is still never called concurrently.
//
// An item counts as done once every sink has accepted it. An error from a
// sink stops the item there (the sinks after it do not get it) and fails it
// under the pipeline's error policy, as any sink's error would; the error
// names the sink by position and name, e.g. `sink 1 "store": ...`. The
// sinks before it keep what they accepted: Tee is not a transaction across
// its sinks, so a sink may hold an item that failed in a later one (under
// Skip or DeadLetter the item counts as skipped or dead-lettered even
// though the earlier sinks have it), and under Retry an earlier sink gets
// the item again for each attempt: at least once per sink.
//
// At the end of the input each sink's end runs in order: a sink made with
// New opens its Writer if it has not yet (as New does) and commits it. Every
// sink gets its end even when an earlier one fails; the errors are joined,
// the first one first, and fail the run. When the run does not end with a
// commit (a failure, a cancellation, a hard stop), each Writer opened and
// not committed is aborted, so a failed run leaves no half-written output
// behind; a Writer that committed stays committed even if a later sink's
// commit fails.
//
// Tee with no sinks, with a nil sink or with an invalid sink makes a
// pipeline that reports so, naming the sink, before anything starts. Each
// run of the pipeline opens its own Writers, so a Tee, like its sinks, can
// be used by several pipelines.
func Tee[T any](sinks ...*Of[T]) *Of[T] {
	if len(sinks) == 0 {
		return Invalid[T]("tee", "no sinks")
	}
	subs := make([]teeSink[T], len(sinks))
	for i, s := range sinks {
		if s == nil {
			return Invalid[T]("tee", fmt.Sprintf("sink %d is nil", i))
		}
		name := fmt.Sprintf("sink %d %q", i, s.name)
		switch {
		case s.invalid != "":
			return Invalid[T]("tee", name+": "+s.invalid)
		case s.push == nil && s.open == nil:
			return Invalid[T]("tee", name+": not made by a constructor of package sink")
		}
		subs[i] = teeSink[T]{name: name, push: s.push, flush: s.flush, open: s.open}
	}
	// A Tee is a New sink: the run's attachWriter opens one teeWriter per
	// run, commits it at the end of the input and aborts it otherwise.
	return &Of[T]{name: "tee", open: func(context.Context) (Writer[T], error) {
		return &teeWriter[T]{subs: subs, ws: make([]Writer[T], len(subs)), committed: make([]bool, len(subs))}, nil
	}}
}

// teeSink is one of a Tee's sinks: a Func sink (push, and flush if any) or
// a New sink (open).
type teeSink[T any] struct {
	name  string // `sink 1 "store"`, for errors
	push  func(ctx context.Context, v T) error
	flush func(ctx context.Context) error
	open  func(ctx context.Context) (Writer[T], error)
}

// teeWriter is a Tee in one run. It is used by one goroutine at a time,
// and its Abort is called after the run's goroutines have all stopped.
type teeWriter[T any] struct {
	subs      []teeSink[T]
	ws        []Writer[T] // the Writers of the New sinks, once opened
	committed []bool
}

// Write hands v to each sink in turn, until one fails. It recovers a panic
// itself, as call does, but once for all the sinks: it is the hot path.
func (tw *teeWriter[T]) Write(ctx context.Context, v T) (err error) {
	i := 0
	defer func() {
		if r := recover(); r != nil {
			err = tw.named(i, flow.NewPanicError(r))
		}
	}()
	for ; i < len(tw.subs); i++ {
		if err := tw.write(ctx, i, v); err != nil {
			return tw.named(i, err)
		}
	}
	return nil
}

// write hands v to the i-th sink.
func (tw *teeWriter[T]) write(ctx context.Context, i int, v T) error {
	s := &tw.subs[i]
	if s.open == nil {
		return s.push(ctx, v)
	}
	if err := tw.opened(ctx, i); err != nil {
		return err
	}
	return tw.ws[i].Write(ctx, v)
}

// Commit ends every sink, in order, whatever the ones before it returned.
func (tw *teeWriter[T]) Commit(ctx context.Context) error {
	var errs []error
	for i := range tw.subs {
		if err := tw.call(i, func() error { return tw.commit(ctx, i) }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (tw *teeWriter[T]) commit(ctx context.Context, i int) error {
	s := &tw.subs[i]
	if s.open == nil {
		if s.flush == nil {
			return nil
		}
		return s.flush(ctx)
	}
	if err := tw.opened(ctx, i); err != nil {
		return err
	}
	if err := tw.ws[i].Commit(ctx); err != nil {
		return err
	}
	tw.committed[i] = true
	return nil
}

// Abort aborts every Writer opened and not committed, in order.
func (tw *teeWriter[T]) Abort() error {
	var errs []error
	for i, w := range tw.ws {
		if w == nil || tw.committed[i] {
			continue
		}
		if err := tw.call(i, w.Abort); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// opened opens the Writer of the i-th sink, a New sink, if it is not yet.
func (tw *teeWriter[T]) opened(ctx context.Context, i int) error {
	if tw.ws[i] != nil {
		return nil
	}
	w, err := openWriter(ctx, tw.subs[i].open)
	tw.ws[i] = w
	return err
}

// call runs f, the i-th sink's end, and names that sink in its error. A
// panic becomes a *flow.PanicError carrying the stack of the panic, so that
// it names the sink too, and so that the sinks after a panicking one still
// get their commit or abort.
func (tw *teeWriter[T]) call(i int, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = flow.NewPanicError(r)
		}
		if err != nil {
			err = tw.named(i, err)
		}
	}()
	return f()
}

// named names the i-th sink in err.
func (tw *teeWriter[T]) named(i int, err error) error {
	return fmt.Errorf("%s: %w", tw.subs[i].name, err)
}
