package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Push adds v to the chunk being filled, and hands the chunk to the workers
// when it is as large as the items' cost warrants, or when a worker has
// waited for work longer than Linger (the source is slower than the
// workers: a chunk would only delay its items).
func (r *parMapRun[In, Out]) Push(ctx context.Context, v In, t flow.Tag) error {
	r.mu.Lock()
	c := r.filling()
	c.Add(v, t)
	r.seq++
	if c.Len() < r.sizer.Target() && r.waiting.Load() == 0 {
		r.mu.Unlock()
		return nil
	}
	r.cur = nil
	r.mu.Unlock()
	return r.send(ctx, c)
}

// PushRun adds the items of a run to chunks, many at a time, and hands
// each chunk on as Push would.
func (r *parMapRun[In, Out]) PushRun(ctx context.Context, vs []In, ts []flow.Tag) error {
	for len(vs) > 0 {
		r.mu.Lock()
		c := r.filling()
		target := r.sizer.Target()
		k := min(max(target-c.Len(), 1), len(vs))
		c.Vs = append(c.Vs, vs[:k]...)
		if ts == nil {
			for range k {
				c.Ts = append(c.Ts, flow.One())
			}
		} else {
			c.Ts = append(c.Ts, ts[:k]...)
			ts = ts[k:]
		}
		vs = vs[k:]
		r.seq += int64(k)
		if c.Len() < target && r.waiting.Load() == 0 {
			r.mu.Unlock()
			continue
		}
		r.cur = nil
		r.mu.Unlock()
		if err := r.send(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// filling returns the chunk being filled, starting one if there is none.
// r.mu must be held.
func (r *parMapRun[In, Out]) filling() *flow.Chunk[In] {
	if r.cur == nil {
		r.cur = r.inFree.Get(r.sizer.Target())
		r.cur.First = r.seq
	}
	return r.cur
}

// send puts chunk c in the workers' queue, waiting for room there and,
// when ordered, in the window.
func (r *parMapRun[In, Out]) send(ctx context.Context, c *flow.Chunk[In]) error {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	c.N = c.Len()
	if r.window != nil {
		if err := r.window.Acquire(ctx, c.N); err != nil {
			return err
		}
	}
	if err := r.inRoom.Acquire(ctx, c.N); err != nil {
		return err
	}
	r.in <- c // never blocks: inRoom has counted c
	return nil
}

// Close hands on the last, partly filled chunk and ends the workers' input.
func (r *parMapRun[In, Out]) Close(ctx context.Context) error {
	r.mu.Lock()
	c := r.cur
	r.cur = nil
	r.mu.Unlock()
	if c != nil {
		if err := r.send(ctx, c); err != nil {
			return err
		}
	}
	r.sendMu.Lock()
	r.closed = true
	close(r.in)
	r.sendMu.Unlock()
	return nil
}

// flushHeld is called by a worker that has waited Linger for work: it puts
// the chunk being filled, if any, in the queue, so that items do not wait
// in it while the goroutine before ParMap is away (its source waits for
// something, perhaps for these very items to reach the sink). It never
// blocks; retry is true when a chunk is held but the queue or the window
// has no room for it now.
func (r *parMapRun[In, Out]) flushHeld() (retry bool) {
	if !r.sendMu.TryLock() {
		return false // the intake is sending: it is not away
	}
	defer r.sendMu.Unlock()
	if r.closed {
		return false
	}
	r.mu.Lock()
	c := r.cur
	if c == nil {
		r.mu.Unlock()
		return false
	}
	n := c.Len()
	if r.window != nil && !r.window.TryAcquire(n) {
		r.mu.Unlock()
		return true
	}
	if !r.inRoom.TryAcquire(n) {
		if r.window != nil {
			r.window.Release(n)
		}
		r.mu.Unlock()
		return true
	}
	r.cur = nil
	r.mu.Unlock()
	c.N = n
	r.in <- c // never blocks: inRoom has counted c
	return false
}
