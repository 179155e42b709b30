package sink

import (
	"context"
	"sync"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// writerPort is the Port of a sink made with New, in one run. The stage
// before it pushes items from its goroutine; the run's flusher goroutine
// (flushing) flushes a Flusher from another, so both take mu. A plain
// sink's port takes no lock: this one pays an uncontended lock a call
// (a run of items for PushRun), cheap next to encoding or storing an item.
type writerPort[T any] struct {
	sc    *flow.Scope
	g     *flow.Guard[T]
	open  func(ctx context.Context) (Writer[T], error)
	every time.Duration
	call  func(ctx context.Context, v T) (struct{}, error) // w.Write, once opened, for flow.Call
	n     int64                                            // items pushed, to label them
	ts    []flow.Tag                                       // PushRun's written items' tags, reused

	// wake has room for one signal: the first write after a flush sends
	// it, and the flusher waits an interval from there. closed is closed
	// when the input ends, and stops the flusher.
	wake   chan struct{}
	closed chan struct{}

	mu sync.Mutex
	// done counts the items written. Once the Writer is open, unless it is
	// Durable, it holds the tags of items with receipts until a flush or
	// the commit stores them; its held tags are read and settled under mu,
	// by either goroutine.
	done      *flow.Tally
	w         Writer[T]
	write     func(ctx context.Context, v T) error // w.Write
	durable   bool                                 // w is Durable
	flusher   Flusher                              // w, when it is one and not Durable
	holds     bool                                 // w is a flushHolder: its flush settles nothing
	dirty     bool                                 // items written since the last flush
	ended     bool                                 // Close was called: no flush after it
	committed bool
}

// attachWriter returns the Port of a New sink's run, starts its flusher,
// and registers the Abort of a run that does not commit: an aborted run
// never settles the receipts the sink holds, so their sources deliver them
// again.
func (s *Of[T]) attachWriter(sc *flow.Scope, g *flow.Guard[T], done *flow.Tally) *writerPort[T] {
	p := &writerPort[T]{sc: sc, g: g, open: s.open, every: s.every, done: done,
		wake: make(chan struct{}, 1), closed: make(chan struct{})}
	if p.every <= 0 {
		p.every = DefaultFlushEvery // a Tee's Of, made without New
	}
	p.call = func(ctx context.Context, v T) (struct{}, error) {
		if err := p.opened(ctx); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, p.w.Write(ctx, v)
	}
	sc.Go(p.flushing)
	sc.Run.OnEnd(func(error) {
		if p.w != nil && !p.committed {
			if err := p.w.Abort(); err != nil {
				sc.Logger.Warn("aborting the output of a run that did not finish: " + err.Error())
			}
		}
	})
	return p
}

func (p *writerPort[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.push(ctx, v, t)
}

// PushRun writes the items under one lock. A Durable Writer's items are
// written one by one, each settled as soon as its Write returns; others
// share one deferred recover (flow.CallRunSink), as a plain sink's do,
// since their receipts wait for a flush or the commit anyway.
func (p *writerPort[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil || p.durable {
		for i, v := range vs {
			if err := p.push(ctx, v, flow.TagAt(ts, i)); err != nil {
				return err
			}
		}
		return nil
	}
	n, outTs, err := flow.CallRunSink(ctx, p.g, p.n, vs, ts, p.write, p.ts[:0])
	p.n += int64(len(vs))
	if ts == nil {
		p.done.Add(int64(n)) // each stands for one source item
	} else {
		for _, t := range outTs {
			p.done.Settle(t) // held until a flush or the commit
		}
	}
	p.ts = outTs[:0]
	if n > 0 {
		p.written()
	}
	return err
}

// push writes v under the sink's policy. p.mu must be held.
func (p *writerPort[T]) push(ctx context.Context, v T, t flow.Tag) error {
	idx := p.n
	p.n++
	if _, ok, err := flow.Call(ctx, p.g, idx, v, t, p.call); !ok {
		return err
	}
	p.done.Settle(t) // or held, unless the Writer is Durable
	p.written()
	return nil
}

// written wakes the flusher at the first write since the last flush.
// p.mu must be held.
func (p *writerPort[T]) written() {
	if p.flusher != nil && !p.dirty {
		p.dirty = true
		select {
		case p.wake <- struct{}{}:
		default: // a signal is already waiting
		}
	}
}

// opened opens the Writer if it is not yet, and sets how the sink settles
// its items. p.mu must be held.
func (p *writerPort[T]) opened(ctx context.Context) error {
	if p.w != nil {
		return nil
	}
	w, err := openWriter(ctx, p.open)
	if err != nil {
		return err
	}
	p.w = w
	p.write = w.Write
	if d, ok := w.(Durable); ok && d.Durable() {
		p.durable = true
		return nil // the tally settles each item as its Write returns
	}
	p.done.HoldTracked()
	p.flusher, _ = w.(Flusher)
	_, p.holds = w.(flushHolder)
	return nil
}

// flushHolder is a Flusher whose Flush does not store all its items (a
// Tee with a sink that only commits): the sink flushes it, so that its
// output is live, but holds the receipts until the commit.
type flushHolder interface{ holdsAtFlush() }

// Close commits the Writer and settles what the sink held. It stops the
// flusher first, so that nothing is flushed after the commit.
func (p *writerPort[T]) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
	close(p.closed)
	if err := p.opened(ctx); err != nil {
		return err
	}
	if err := p.w.Commit(ctx); err != nil {
		return &flow.Error{Stage: p.sc.Name, Index: p.sc.Index, Label: "commit", Err: err}
	}
	p.committed = true
	p.done.SettleHeld()
	return nil
}

// flushing is the run's goroutine that flushes a Flusher an interval after
// the first write that follows a flush. It returns when the input ends or
// the run stops; a Writer that is not a Flusher never wakes it.
func (p *writerPort[T]) flushing(ctx context.Context) error {
	timer := time.NewTimer(p.every)
	timer.Stop()
	for {
		select {
		case <-p.wake:
		case <-p.closed:
			return nil
		case <-ctx.Done():
			return nil
		}
		timer.Reset(p.every)
		select {
		case <-timer.C:
		case <-p.closed:
			timer.Stop()
			return nil
		case <-ctx.Done():
			timer.Stop()
			return nil
		}
		if err := p.flush(ctx); err != nil {
			return err
		}
	}
}

// flush flushes the Writer and settles the items it held, unless it holds
// them until the commit.
func (p *writerPort[T]) flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dirty || p.ended {
		return nil
	}
	p.dirty = false
	if err := p.flusher.Flush(ctx); err != nil {
		return &flow.Error{Stage: p.sc.Name, Index: p.sc.Index, Label: "flush", Err: err}
	}
	if !p.holds {
		p.done.SettleHeld()
	}
	return nil
}
