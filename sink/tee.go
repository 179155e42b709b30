package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Tee makes a sink, named "tee", that hands every item to each of sinks in
// turn, in the order given, in the goroutine that calls it: it starts no
// goroutine of its own, and each sink is still never called concurrently.
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
// A Tee opens the Writers of all its sinks made with New, in order, when
// its first item arrives or its input ends, whichever is first, as New
// opens one: a run that fails before it opens nothing. If one fails to
// open, the ones opened before it are aborted and the run fails, naming
// that sink.
//
// An item's receipt (source.Receipt: a queue's message) settles once every
// sink has stored the item. So a Tee whose sinks are all Func sinks or New
// sinks with a Durable Writer (sqlsink) is Durable itself: it settles each
// item as soon as the last sink has taken it. A Tee with Flushers among
// such sinks (textsink to an io.Writer) is a Flusher: its flush flushes
// each Flusher, in order, and then settles the items written before it; a
// failed flush fails the run, naming the sink. It flushes at the shortest
// flush interval (FlushEvery) of its sinks made with New, so that each is
// flushed at least as often as it asks: DefaultFlushEvery unless one of
// them sets a shorter one. A Tee with a sink that only commits (a file
// renamed into place) holds every receipt until its commit, as such a
// sink does, but still flushes its Flushers, so that their output is
// live.
//
// At the end of the input each sink's end runs in order: a New sink's
// Writer commits. Every sink gets its end even when an earlier one fails;
// the errors are joined, the first one first, and fail the run. When the
// run does not end with a commit (a failure, a cancellation, a hard stop),
// each Writer opened and not committed is aborted, so a failed run leaves
// no half-written output behind; a Writer that committed stays committed
// even if a later sink's commit fails.
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
	news := false           // some sinks are New sinks
	var every time.Duration // the shortest of their intervals
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
		if s.open != nil {
			news = true
			if s.every > 0 && (every == 0 || s.every < every) {
				every = s.every
			}
		}
	}
	if !news {
		// A Tee of Func sinks is a Func sink: it has nothing to open, commit
		// or abort, and a Func sink's port settles each item as a durableTee's
		// would, for less (12 against 23 ns an item through two Discards).
		// Its one teeWriter serves every run: with no Writers, it keeps no
		// state.
		tw := newTeeWriter(subs)
		return &Of[T]{name: "tee", push: tw.Write, flush: tw.Commit}
	}
	// Otherwise a Tee is a New sink: the run's attachWriter opens one
	// teeWriter per run, commits it at the end of the input and aborts it
	// otherwise, and settles as the type openTee returns says.
	return &Of[T]{name: "tee", every: every, open: func(ctx context.Context) (Writer[T], error) {
		return openTee(ctx, subs)
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

// teeWriter is a Tee in one run (or, with no New sinks, in every run: it
// then only reads its fields). It is used by one goroutine at a time, and
// its Abort is called after the run's goroutines have all stopped.
// As it is, it is a Writer that is neither Durable nor a Flusher: the
// Tee's port holds its items' receipts until it commits.
type teeWriter[T any] struct {
	subs      []teeSink[T]
	writes    []func(ctx context.Context, v T) error // each sink's push or Writer's Write
	ws        []Writer[T]                            // the Writers of the New sinks, once opened
	committed []bool
	flushers  []teeFlusher // the Writers that are Flushers and not Durable
}

// teeFlusher is the i-th sink's Writer, a Flusher.
type teeFlusher struct {
	i int
	f Flusher
}

// durableTee is a Tee whose sinks all store each item as they take it:
// Func sinks and Durable Writers.
type durableTee[T any] struct{ *teeWriter[T] }

func (durableTee[T]) Durable() bool { return true }

// flushingTee is a Tee with Flushers among sinks that store as they take.
type flushingTee[T any] struct{ *teeWriter[T] }

// Flush flushes each Flusher in order, until one fails.
func (ft flushingTee[T]) Flush(ctx context.Context) error {
	for _, fl := range ft.flushers {
		if err := ft.call(fl.i, func() error { return fl.f.Flush(ctx) }); err != nil {
			return err
		}
	}
	return nil
}

// holdingTee is a Tee with a sink that only commits and Flushers: its
// port flushes it, so that the Flushers' output is live, but holds every
// receipt until the commit.
type holdingTee[T any] struct{ flushingTee[T] }

func (holdingTee[T]) holdsAtFlush() {}

var (
	_ Durable     = durableTee[int]{}
	_ Flusher     = flushingTee[int]{}
	_ flushHolder = holdingTee[int]{}
)

// openTee opens the Writers of the Tee's New sinks, in order, and returns
// the Tee's Writer for this run, of the type that tells its port when to
// flush and settle: durableTee, flushingTee, holdingTee (flushed, holds
// until commit), or a teeWriter (holds until commit).
// When a Writer fails to open, it aborts the ones opened before it: the
// port, having no Writer, aborts nothing.
func openTee[T any](ctx context.Context, subs []teeSink[T]) (Writer[T], error) {
	tw := newTeeWriter(subs)
	holds := false // a sink that only commits
	for i := range subs {
		if subs[i].open == nil {
			continue
		}
		if err := tw.call(i, func() error { return tw.open(ctx, i) }); err != nil {
			return nil, errors.Join(err, tw.Abort())
		}
		w := tw.ws[i]
		tw.writes[i] = w.Write
		if d, ok := w.(Durable); ok && d.Durable() {
			continue
		}
		if f, ok := w.(Flusher); ok {
			tw.flushers = append(tw.flushers, teeFlusher{i, f})
			if _, h := w.(flushHolder); !h {
				continue
			}
		}
		holds = true // a sink that only commits, or a Tee holding for one
	}
	switch {
	case holds && len(tw.flushers) > 0:
		return holdingTee[T]{flushingTee[T]{tw}}, nil
	case holds:
		return tw, nil
	case len(tw.flushers) > 0:
		return flushingTee[T]{tw}, nil
	default:
		return durableTee[T]{tw}, nil
	}
}

// newTeeWriter returns a teeWriter whose New sinks are not open yet.
func newTeeWriter[T any](subs []teeSink[T]) *teeWriter[T] {
	n := len(subs)
	tw := &teeWriter[T]{subs: subs, writes: make([]func(context.Context, T) error, n),
		ws: make([]Writer[T], n), committed: make([]bool, n)}
	for i, s := range subs {
		tw.writes[i] = s.push // nil for a New sink, until it opens
	}
	return tw
}

// open opens the Writer of the i-th sink, a New sink. Its error is not
// wrapped in errOpen: the Tee's own open error is.
func (tw *teeWriter[T]) open(ctx context.Context, i int) error {
	w, err := tw.subs[i].open(ctx)
	switch {
	case err != nil:
		return err
	case w == nil:
		return errors.New("open returned a nil Writer")
	}
	tw.ws[i] = w
	return nil
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
	for ; i < len(tw.writes); i++ {
		if err := tw.writes[i](ctx, v); err != nil {
			return tw.named(i, err)
		}
	}
	return nil
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
	w := tw.ws[i]
	if w == nil {
		if f := tw.subs[i].flush; f != nil {
			return f(ctx)
		}
		return nil
	}
	if err := w.Commit(ctx); err != nil {
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

// call runs f, the i-th sink's open, flush or end, and names that sink in
// its error. A panic becomes a *flow.PanicError carrying the stack of the
// panic, so that it names the sink too, and so that the sinks after a
// panicking one still get their commit or abort.
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
