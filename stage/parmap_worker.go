package stage

import (
	"context"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// work is one worker's loop: take a chunk, run the handler on each of its
// items, pass the results on as one chunk.
//
// A chunk is sized for about flow.ChunkBudget of work by the cost measured
// so far. When its items turn out slower (the cost changed, or one item
// blocks), the workers that have nothing to do take away the half of it
// that its worker has not started (parmap_steal.go), so items never wait
// behind a busy worker while another is idle.
func (r *parMapRun[In, Out]) work(ctx context.Context, id int) (err error) {
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
	linger := time.NewTimer(flow.Linger)
	defer linger.Stop()
	clock := flow.NewWorkClock(r.sc.Run, r.shifts[id-1])
	defer clock.Stop()
	for {
		c, err := r.take(ctx, id, linger)
		if c == nil {
			return err
		}
		clock.Start()
		out := r.outFree.Get(c.Len())
		for {
			i, ok := c.Claim()
			if !ok {
				break
			}
			if r.waiting.Load() > 0 && i+1 < c.End() {
				r.callThief() // items wait behind this one and a worker is idle
			}
			v := c.Vs[i]
			idx := c.First + int64(i)
			res, keep, err := flow.Call(ctx, r.g, idx, v, c.Ts[i], handle)
			if err != nil {
				return err
			}
			if keep {
				out.Add(res, c.Ts[i])
				if debug {
					log.Debug("done", zap.String("item", r.g.Label(idx, v)), zap.Duration("time spent", time.Since(r.sc.Run.Start)))
				}
			}
		}
		r.active[id-1].Store(nil)
		c.Settle()
		n := c.End()
		r.sizer.Observe(n, clock.Done(n))
		out.First, out.N = c.First, n
		r.inFree.Put(c)
		blocked, err := r.hand(ctx, out)
		if err != nil {
			return err // the wait counts as idle: it is cut short
		}
		clock.Blocked(blocked)
	}
}

// hand hands a chunk of results to the emitter once there is room for
// them, or recycles it when it has nothing to pass on. It returns how long
// it waited for room: the worker was backpressured.
func (r *parMapRun[In, Out]) hand(ctx context.Context, out *flow.Chunk[Out]) (blocked time.Duration, err error) {
	if out.N == 0 || out.Len() == 0 && !r.ordered {
		// Thieves took every item (N == 0), or none was kept and the order
		// needs no hole filled.
		r.outFree.Put(out)
		return 0, nil
	}
	if !r.outRoom.TryAcquire(out.Len()) {
		from := time.Now()
		if err := r.outRoom.Acquire(ctx, out.Len()); err != nil {
			return 0, err
		}
		blocked = time.Since(from)
	}
	select {
	case r.out <- out:
		return blocked, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// take returns the next chunk for worker id, open and published for
// thieves, or nil at the end of the input (with a nil error) or when ctx is
// done (with its error).
//
// A worker that has waited Linger counts itself as waiting: the intake
// then hands on each item at once, and the worker takes the chunk the
// intake holds, if any, or steals from the other workers' chunks; the
// workers call it when a chunk of theirs has items to spare.
func (r *parMapRun[In, Out]) take(ctx context.Context, id int, linger *time.Timer) (*flow.Chunk[In], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case c, ok := <-r.in:
		if ok && len(r.in) == 0 {
			// The queue is empty and the intake, which the receive may
			// have woken, waits for a processor: with as many busy workers
			// as cores it would get none before the workers starve. Let
			// it refill the queue now.
			runtime.Gosched()
		}
		return r.started(ctx, id, c, ok), nil
	default:
	}
	linger.Reset(flow.Linger)
	defer linger.Stop()
	select {
	case c, ok := <-r.in:
		return r.started(ctx, id, c, ok), nil
	case <-linger.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	wait := flow.Linger
	for {
		if c := r.steal(id); c != nil {
			return c, nil
		}
		var retry <-chan time.Time
		if r.flushHeld() {
			// A chunk is held but there is no room for it yet: look again
			// later, less and less often.
			wait = min(2*wait, maxRetry)
			linger.Reset(wait)
			retry = linger.C
		}
		select {
		case c, ok := <-r.in:
			return r.started(ctx, id, c, ok), nil
		case <-r.thief:
		case <-retry:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// started opens chunk c, just taken from the queue (ok) or not (the queue
// is closed: the last items left are the ones to steal), for worker id.
func (r *parMapRun[In, Out]) started(ctx context.Context, id int, c *flow.Chunk[In], ok bool) *flow.Chunk[In] {
	if !ok {
		return r.finish(ctx, id)
	}
	free := r.inRoom.Release(c.N)
	r.shifts[id-1].Queued(r.room - free)
	c.Open()
	r.active[id-1].Store(c)
	return c
}

// maxRetry is the longest a waiting worker goes without looking for a held
// chunk that had no room.
const maxRetry = 10 * time.Millisecond
