package source

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// mergeBuffer is how many items Merge's sources may have yielded ahead of
// the goroutine that emits them.
const mergeBuffer = 64

// Merge makes a source, named "merge", that runs the generators of every
// one of sources concurrently, each in its own goroutine, and emits their
// items as they come, through one goroutine: the items of each source keep
// their order, and those of different sources interleave in no set order.
// Each emitted item counts once in Counts.In; every item of every source is
// emitted once when the run finishes. A Slice source emits its items one by
// one, as a generator would.
//
// The sources stop, their contexts cancelled and their yields returning
// false, when the run fails or is cancelled, when one of them fails, and
// when the run is drained. An error (or a panic) from a source stops the
// others at once and fails the run with code 1 once Merge has emitted what
// was yielded before it (at most 64 items, and one per source), so the
// items a source yielded before its error reach the sink, as a single
// source's do. The error names the source by position and name, and counts
// the items it had yielded, e.g. `source 1 "orders", item #3: ...`. The
// first error wins: what the others return then is ignored, as is what a
// source returns once its yield said false, or a cancellation error once
// its context is done.
//
// A drain stops every source, and Merge emits what they had yielded before
// they stopped, so a Chan source under Merge loses none of the values it
// received. Merge ends once every source has returned: a textsrc source
// blocked waiting for input returns at once.
//
// Merge never holds a hard stop (a second signal, a cancelled context) or a
// failure past Run's bound of 1s. It waits for its sources to return, and a
// generator that watches its context does so at once (a textsrc source
// too, whatever its read is blocked on). One that is still running 500ms
// after it was stopped does not watch its context, against what Func asks:
// Merge returns without it, and leaves its goroutine behind, counted in
// ExitStatus.LeftBehind and named in the run's log; it ends by itself when
// its generator returns, and nothing it yields after is emitted. A textsrc
// source over an arbitrary io.Reader blocked in Read returns at once but
// leaves its own reading goroutine behind, counted the same way.
//
// Merge with no sources, with a nil source or with an invalid source makes
// a pipeline that reports so, naming the source, before anything starts.
// Each run calls every generator anew.
func Merge[T any](sources ...*Of[T]) *Of[T] {
	if len(sources) == 0 {
		return Invalid[T]("merge", "no sources")
	}
	subs := make([]mergeSource[T], len(sources))
	for i, s := range sources {
		if s == nil {
			return Invalid[T]("merge", fmt.Sprintf("source %d is nil", i))
		}
		name := fmt.Sprintf("source %d %q", i, s.name)
		gen := s.gen
		switch {
		case s.invalid != "":
			return Invalid[T]("merge", name+": "+s.invalid)
		case s.slice:
			gen = sliceGen(s.items)
		case s.genR != nil:
			return Invalid[T]("merge", name+": its items carry receipts, which Merge does not pass on")
		case gen == nil:
			return Invalid[T]("merge", name+": not made by a constructor of package source")
		}
		subs[i] = mergeSource[T]{name: name, gen: gen}
	}
	return &Of[T]{name: "merge", flushes: true, gen: func(ctx context.Context, yield func(T) bool) error {
		return merge(ctx, subs, yield)
	}}
}

// sliceGen returns a generator that yields the items of items.
func sliceGen[T any](items []T) func(context.Context, func(T) bool) error {
	return func(_ context.Context, yield func(T) bool) error {
		for _, v := range items {
			if !yield(v) {
				return nil
			}
		}
		return nil
	}
}

// mergeSource is one of a Merge's sources.
type mergeSource[T any] struct {
	name string // `source 1 "orders"`, for errors
	gen  func(ctx context.Context, yield func(T) bool) error
}

// mergeGrace is how long merge waits, once it returns before its sources
// have all returned, for those left: they are stopped, and a generator that
// watches its context returns within microseconds. One that has not by
// then is left behind, so that a hard stop still returns Run within 1s.
const mergeGrace = 500 * time.Millisecond

// merge is Merge's generator: it runs in the source's goroutine, which it
// makes the one that emits (yield pushes downstream), and starts a
// goroutine per source, which hands its items over through a bounded
// channel. It returns once every goroutine it started has returned, or,
// when it stops before they have, mergeGrace after it stopped them: those
// still running are counted in the run's LeftBehind.
//
// ctx is done when the run is cancelled or drained: the sources then stop,
// and merge goes on emitting what they have handed over while yield lets
// it: after a drain, until the last source has returned (Of.flushes). A
// hard stop ends that at once.
func merge[T any](ctx context.Context, subs []mergeSource[T], yield func(T) bool) error {
	genCtx, cancel := context.WithCancel(ctx)
	ch := make(chan mergeItem[T], mergeBuffer)
	quit := make(chan struct{}) // closed when merge returns: senders give up
	returned := make([]atomic.Bool, len(subs))
	allReturned := make(chan struct{})
	var (
		live     atomic.Int64
		closeMu  sync.Mutex // orders the close of ch and wake's send
		chClosed bool
	)
	// A hard stop (done on the run's context, not on a drain) wakes merge
	// if it waits for an item that a stuck source may never send: a send
	// into an empty slot. When ch is full, merge is not waiting, and yield
	// says false at the next item. A select on the stop at every item
	// instead would cost half as much again as the handoff.
	woken := make(chan struct{})
	wake := context.AfterFunc(runContext(ctx), func() {
		defer close(woken)
		closeMu.Lock()
		defer closeMu.Unlock()
		if !chClosed {
			select {
			case ch <- mergeItem[T]{stop: true}:
			default:
			}
		}
	})
	defer func() {
		if !wake() {
			<-woken
		}
		close(quit)
		cancel()
		awaitSources(ctx, subs, returned, allReturned)
	}()
	live.Store(int64(len(subs)))
	for i := range subs {
		go func() {
			defer func() {
				returned[i].Store(true)
				if live.Add(-1) == 0 {
					closeMu.Lock()
					chClosed = true
					close(ch) // the last sender is done
					closeMu.Unlock()
					close(allReturned)
				}
			}()
			if err := subs[i].run(genCtx, ch, quit); err != nil {
				// Stop the other sources now; the error follows the items
				// this one yielded before it, and fails the run when merge
				// reaches it, unless another source's error came first.
				cancel()
				select {
				case ch <- mergeItem[T]{err: err}:
				case <-quit:
				}
			}
		}()
	}
	for it := range ch {
		switch {
		case it.stop:
			return nil // a hard stop: yield would say false; a source may be stuck
		case it.err != nil:
			return it.err
		case !yield(it.v):
			return nil // the run is stopping: what merge returns is ignored
		}
	}
	return nil // every source has returned
}

// awaitSources waits for the goroutines of merge's sources, which are
// stopped, for at most mergeGrace, and counts those still running then in
// the run's LeftBehind: their generators do not watch their context.
func awaitSources[T any](ctx context.Context, subs []mergeSource[T], returned []atomic.Bool, allReturned <-chan struct{}) {
	select {
	case <-allReturned:
		return
	default:
	}
	timer := time.NewTimer(mergeGrace)
	defer timer.Stop()
	select {
	case <-allReturned:
		return
	case <-timer.C:
	}
	run := flow.RunOf(ctx)
	for i := range subs {
		if !returned[i].Load() && run != nil {
			run.LeaveBehind("the generator of merge's " + subs[i].name + ", which does not return when its context is done")
		}
	}
}

// mergeItem is an item a source handed over, or the error it ended with,
// or the mark of a hard stop.
type mergeItem[T any] struct {
	v    T
	err  error
	stop bool
}

// run runs the source's generator under ctx and hands its items to ch,
// until the generator returns or quit is closed. It returns the
// generator's error, naming the source, unless the source was stopping:
// its yield had said false, or ctx was done and the error is ctx's.
func (s *mergeSource[T]) run(ctx context.Context, ch chan<- mergeItem[T], quit <-chan struct{}) error {
	var n int64
	stopped := false
	yield := func(v T) bool {
		if stopped {
			return false
		}
		// v is taken from the generator: hand it over even if ctx is done,
		// unless merge has returned, as the single source's yield does.
		select {
		case ch <- mergeItem[T]{v: v}:
			n++
		case <-quit:
			stopped = true
			return false
		}
		if ctx.Err() != nil {
			stopped = true
			return false
		}
		return true
	}
	err := s.generate(ctx, yield)
	switch {
	case err == nil || stopped:
		return nil
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return nil
	}
	return fmt.Errorf("%s, item #%d: %w", s.name, n, err)
}

// generate calls the generator, turning a panic into an error.
func (s *mergeSource[T]) generate(ctx context.Context, yield func(T) bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = flow.NewPanicError(r)
		}
	}()
	return s.gen(ctx, yield)
}
