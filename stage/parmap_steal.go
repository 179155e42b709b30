package stage

import "github.com/conveyor-go/conveyor/internal/flow"

// steal takes, for worker id, half of the items another worker's chunk has
// not started, and returns them as a chunk of their own, open and
// published; or nil when no worker has items to spare.
func (r *parMapRun[In, Out]) steal(id int) *flow.Chunk[In] {
	into := r.inFree.Get()
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
