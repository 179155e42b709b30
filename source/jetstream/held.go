package jetstream

import (
	"sync"
	"sync/atomic"
)

// slabSize is how many receipts one allocation makes.
const slabSize = 128

// slab is slabSize receipts, handed out in turn by the message handler,
// and used again once every one of them has settled: the receipts of a
// run cost an allocation per slab, and none once the slabs go round.
type slab struct {
	rs      [slabSize]receipt
	used    int          // receipts handed out; the handler's until the slab is full
	settled atomic.Int32 // receipts released
	owner   owner
	tally   *tally
}

// held is the set of messages a run holds, from their arrival until their
// items settle: slabs of receipts, which keepAlive and the run's end walk,
// instead of an entry per message in a map.
type held struct {
	owner owner
	tally *tally

	n     atomic.Int64  // messages held now
	total atomic.Uint64 // messages held so far, for the end-of-queue check

	mu   sync.Mutex
	live []*slab // slabs with receipts out
	free []*slab // slabs whose receipts have all settled
}

// cursor is the slab one Consume's handler hands receipts out of: a
// Consume closing while the next one opens may run its handler at the same
// time as the next one's.
type cursor struct{ cur *slab }

// next returns a free receipt. Only the handler that owns c calls it.
func (h *held) next(c *cursor) *receipt {
	if c.cur == nil {
		h.mu.Lock()
		if k := len(h.free); k > 0 {
			c.cur, h.free = h.free[k-1], h.free[:k-1]
		} else {
			c.cur = &slab{owner: h.owner, tally: h.tally}
			for i := range c.cur.rs {
				c.cur.rs[i].slab = c.cur
			}
		}
		h.live = append(h.live, c.cur)
		h.mu.Unlock()
	}
	r := &c.cur.rs[c.cur.used]
	if c.cur.used++; c.cur.used == slabSize {
		c.cur = nil // full: its receipts' releases recycle it
	}
	return r
}

// hold records r, whose fields are set, as held.
func (h *held) hold(r *receipt) {
	h.n.Add(1)
	h.total.Add(1)
	r.state.Store(holding)
}

// release forgets r, taken and settled, and recycles its slab once all
// its receipts are. It reports whether nothing is held any more.
func (h *held) release(r *receipt) bool {
	r.state.Store(free)
	s := r.slab
	if s.settled.Add(1) == slabSize {
		h.mu.Lock()
		for i, l := range h.live {
			if l == s {
				h.live = append(h.live[:i], h.live[i+1:]...)
				break
			}
		}
		s.used = 0
		s.settled.Store(0)
		h.free = append(h.free, s)
		h.mu.Unlock()
	}
	return h.n.Add(-1) == 0
}

// each calls f with each held receipt, under the lock that keeps slabs
// from being recycled meanwhile: f must be quick, and must not release.
func (h *held) each(f func(r *receipt)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.live {
		for i := range s.rs {
			if r := &s.rs[i]; r.state.Load() == holding {
				f(r)
			}
		}
	}
}
