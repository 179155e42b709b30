package stage

import (
	"context"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// lane is one worker's queue. The intake appends items to buf, waiting
// while it is full; the worker takes all of them at once, leaving an empty
// batch in their place, so the items that arrive while it is busy travel
// together.
type lane[T any] struct {
	mu      sync.Mutex
	buf     *keyed[T]     // the items waiting, in input order
	size    int           // the most items buf holds
	target  int           // a waiting worker is woken once buf holds as many
	waiting bool          // the worker waits for items
	starved bool          // ... and has waited Linger: wake it at every item
	closed  bool          // the input has ended
	full    bool          // the intake waits for room
	wake    chan struct{} // a token for the worker
	room    chan struct{} // a token for the intake
	_       [64]byte      // the lanes are written by different workers
}

func newLane[T any](size int, buf *keyed[T]) *lane[T] {
	return &lane[T]{buf: buf, size: size, target: 1, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// add appends the items from to end of b, or as many as there is room
// for, and wakes the worker if it waits for as many, or for any. It
// returns how many it appended.
func (l *lane[T]) add(b *keyed[T], from, end int) int {
	l.mu.Lock()
	k := min(l.size-len(l.buf.vs), end-from)
	if k == 0 {
		l.mu.Unlock()
		return 0
	}
	l.buf.addRange(b, from, from+k)
	n := len(l.buf.vs)
	wake := l.waiting && (l.starved || n >= l.target || n == l.size)
	if wake {
		l.waiting = false
	}
	l.mu.Unlock()
	if wake {
		token(l.wake)
	}
	return k
}

// put appends the items from to end of b, waiting for room as needed.
func (l *lane[T]) put(ctx context.Context, b *keyed[T], from, end int) error {
	for from += l.add(b, from, end); from < end; from += l.add(b, from, end) {
		l.mu.Lock()
		full := len(l.buf.vs) == l.size
		l.full = full
		l.mu.Unlock()
		if !full {
			continue // the worker took the items meanwhile
		}
		select {
		case <-l.room: // the worker took the items; or a stale token: look again
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// close ends the lane's input.
func (l *lane[T]) close() {
	l.mu.Lock()
	l.closed = true
	wake := l.waiting
	l.waiting = false
	l.mu.Unlock()
	if wake {
		token(l.wake)
	}
}

// take returns all the items waiting, leaving spare, an empty batch, in
// their place; or nil once the input has ended and no item waits (with a
// nil error), or when ctx is done (with its error). When no item waits, it
// waits until target items do, or for flow.Linger and then for any item.
func (l *lane[T]) take(ctx context.Context, spare *keyed[T], target int, linger *time.Timer) (*keyed[T], error) {
	starved := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.buf.vs) > 0 {
			b := l.buf
			l.buf = spare
			full := l.full
			l.waiting, l.full = false, false
			l.mu.Unlock()
			if full {
				// The stage before waits for room here, and with as many
				// busy workers as cores it would get no processor before
				// the other workers ran out of items: let it refill the
				// queues now, as ParMap's workers do.
				token(l.room)
				runtime.Gosched()
			}
			return b, nil
		}
		if l.closed {
			l.mu.Unlock()
			return nil, nil
		}
		l.waiting, l.starved, l.target = true, starved, target
		l.mu.Unlock()
		var expired <-chan time.Time
		if !starved {
			linger.Reset(flow.Linger)
			expired = linger.C
		}
		select {
		case <-l.wake: // items came; or a stale token: look again
		case <-expired:
			starved = true
		case <-ctx.Done():
			linger.Stop()
			return nil, ctx.Err()
		}
		linger.Stop()
	}
}

// token leaves a token in ch, a channel of one, unless one is there.
func token(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// work is the loop of worker id, which owns lane id-1: take the items that
// wait in the lane, run the handler on each in order, and pass the results
// on, in order, in pieces of about flow.ChunkBudget of work, so that the
// results of slow items are not held back by the rest of their batch.
func (r *keyedRun[In, Out]) work(ctx context.Context, id int) (err error) {
	defer func() {
		if err != nil {
			r.failed.Store(true)
		}
		if r.live.Add(-1) == 0 {
			close(r.out)
		}
	}()
	handle, stop, log, debug, err := startWorker(ctx, r.sc, r.proc, id)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); err == nil {
			err = serr
		}
	}()
	l := r.lanes[id-1]
	spare := r.inFree.get(l.size, false)
	linger := time.NewTimer(flow.Linger)
	linger.Stop()
	defer linger.Stop()
	// The cost of an item, which sizes the pieces results leave in and
	// how many items the worker waits for: one until it is known, then
	// about flow.ChunkBudget of work.
	sizer := flow.NewSizer(maxChunk)
	clock := flow.NewWorkClock(r.sc.Run, r.shifts[id-1])
	defer clock.Stop()
	for {
		b, err := l.take(ctx, spare, min(sizer.Target(), l.size), linger)
		if b == nil {
			if err == nil {
				// The input has ended, and the intake is done with the
				// lane: its batches serve the next run.
				r.inFree.put(l.buf)
				r.inFree.put(spare)
			}
			return err
		}
		r.shifts[id-1].Queued(len(b.vs))
		for i := 0; i < len(b.vs); {
			clock.Start()
			k := min(sizer.Target(), len(b.vs)-i)
			out := r.outFree.get(k, b.tagged)
			if err := r.handlePiece(ctx, handle, b, i, i+k, out, log, debug); err != nil {
				return err
			}
			i += k
			sizer.Observe(k, clock.Done(k))
			blocked, err := r.hand(ctx, out)
			if err != nil {
				return err // the wait counts as idle: it is cut short
			}
			clock.Blocked(blocked)
		}
		b.reset()
		spare = b
	}
}

// handlePiece runs the handler on the items from to end of batch b, in
// order, and appends the results of the items that go on, with their tags,
// to out. It returns an error when the run must stop.
//
// The items share one deferred recover until one fails; that one takes
// the policy's path (flow.Recover) with its failure.
func (r *keyedRun[In, Out]) handlePiece(ctx context.Context, handle func(context.Context, In) (Out, error), b *keyed[In], from, end int, out *keyed[Out], log *zap.Logger, debug bool) error {
	for i := from; i < end; {
		n, herr := flow.ProtectRun(ctx, b.vs[i:end], handle, &out.vs)
		if b.tagged {
			out.ts = append(out.ts, b.ts[i:i+n]...)
		}
		if debug {
			for j := i; j < i+n; j++ {
				r.logDone(log, b, j)
			}
		}
		i += n
		if i == end {
			return nil
		}
		// b.vs[i] failed.
		t := b.tag(i)
		res, keep, err := flow.Recover(ctx, r.g, b.idx[i], b.vs[i], t, herr, handle)
		if err != nil {
			return err
		}
		if keep {
			out.vs = append(out.vs, res)
			if b.tagged {
				out.ts = append(out.ts, t)
			}
			if debug {
				r.logDone(log, b, i)
			}
		}
		i++
	}
	return nil
}

// logDone logs, at debug level, that the i-th item of b is done: the seed's
// workers log "batch_done" after each item, as ParMap's do.
func (r *keyedRun[In, Out]) logDone(log *zap.Logger, b *keyed[In], i int) {
	log.Debug("done", zap.String("item", r.g.Label(b.idx[i], b.vs[i])), zap.Duration("time spent", time.Since(r.sc.Run.Start)))
}

// hand hands a piece of results to the emitter once there is room for
// them, or recycles it when no item was kept. It returns how long it
// waited for room: the worker was backpressured.
func (r *keyedRun[In, Out]) hand(ctx context.Context, out *keyed[Out]) (blocked time.Duration, err error) {
	n := len(out.vs)
	if n == 0 {
		r.outFree.put(out)
		return 0, nil
	}
	if !r.outRoom.TryAcquire(n) {
		from := time.Now()
		if err := r.outRoom.Acquire(ctx, n); err != nil {
			return 0, err
		}
		blocked = time.Since(from)
	}
	r.out <- out // never blocks: outRoom has counted out
	return blocked, nil
}
