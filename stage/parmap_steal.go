package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// steal takes, for worker id, half of the items another worker's chunk has
// not started, and returns them as a chunk of their own, open and
// published; or nil when no worker has items to spare.
func (r *parMapRun[In, Out]) steal(id int) *flow.Chunk[In] {
	into := r.inFree.Get(1)
	for i := range r.active {
		if i == id-1 {
			continue
		}
		if c := r.active[i].Load(); c != nil && c.Steal(into) {
			into.Open()
			r.active[id-1].Store(into)
			return into
		}
	}
	r.inFree.Put(into)
	return nil
}

// callThief wakes one waiting worker to steal, unless one is woken already.
func (r *parMapRun[In, Out]) callThief() {
	select {
	case r.thief <- struct{}{}:
	default:
	}
}

// finish is what worker id does once the queue is closed and empty: steal
// from the workers still busy, until every worker is here with nothing
// left to steal. Then it returns nil, and the worker stops. It returns a
// stolen chunk, open and published, to run first.
func (r *parMapRun[In, Out]) finish(ctx context.Context, id int) *flow.Chunk[In] {
	r.waiting.Add(1) // so that busy workers call for thieves
	defer r.waiting.Add(-1)
	for {
		if c := r.steal(id); c != nil {
			return c
		}
		// A worker counted here holds no chunk; when all are, no item is
		// left anywhere.
		if int(r.finishing.Add(1)) == len(r.active) {
			r.drainedOnce.Do(func() { close(r.drained) })
		}
		select {
		case <-r.drained:
			return nil
		case <-r.thief:
			r.finishing.Add(-1)
		case <-ctx.Done():
			return nil
		}
	}
}
