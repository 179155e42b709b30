package jetstream

import (
	"context"
	"sync"
)

// handoff takes the messages the handler holds to the generator in
// batches: the handler appends each to a slice under a lock, and wakes the
// generator only if it waits; the generator takes the whole slice at once.
// It holds limit messages at most: the handler then waits for room, and
// the client's own buffer, which Consume fills with FetchBatch at most,
// takes what comes meanwhile.
type handoff struct {
	mu       sync.Mutex
	buf      []*receipt
	limit    int
	genWaits bool // the generator waits for wake
	closed   bool // nothing more comes
	wake     chan struct{}
	// room, while a handler waits for room, is closed by the next take: it
	// wakes every handler that waits (two, while a Consume closes as the
	// next one opens).
	room chan struct{}
}

func newHandoff(limit int) *handoff {
	return &handoff{limit: limit, buf: make([]*receipt, 0, limit),
		wake: make(chan struct{}, 1)}
}

// put hands r over, waiting while the hand-off is full. It returns false,
// r not taken, once stop is closed.
func (h *handoff) put(r *receipt, stop <-chan struct{}) bool {
	h.mu.Lock()
	for len(h.buf) >= h.limit {
		if h.room == nil {
			h.room = make(chan struct{})
		}
		room := h.room
		h.mu.Unlock()
		select {
		case <-room:
		case <-stop:
			return false
		}
		h.mu.Lock()
	}
	h.buf = append(h.buf, r)
	wake := h.genWaits
	h.genWaits = false
	h.mu.Unlock()
	if wake {
		signal(h.wake)
	}
	return true
}

// take returns every message the hand-off holds, waiting for one while it
// is empty; spare, a slice take returned before and that the caller is
// done with, holds the next ones. It returns nil once the hand-off is
// closed and empty, or ctx is done.
func (h *handoff) take(ctx context.Context, spare []*receipt) []*receipt {
	for {
		h.mu.Lock()
		if len(h.buf) > 0 {
			got := h.buf
			h.buf = spare[:0]
			if h.room != nil {
				close(h.room)
				h.room = nil
			}
			h.mu.Unlock()
			return got
		}
		if h.closed {
			h.mu.Unlock()
			return nil
		}
		h.genWaits = true
		h.mu.Unlock()
		select {
		case <-h.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// putBack returns rs, taken and not emitted, to the hand-off, whatever its
// limit: the generator is returning.
func (h *handoff) putBack(rs []*receipt) {
	if len(rs) == 0 {
		return
	}
	h.mu.Lock()
	h.buf = append(h.buf, rs...)
	h.mu.Unlock()
}

// close says that nothing more comes: take returns nil once it has
// returned what is left.
func (h *handoff) close() {
	h.mu.Lock()
	h.closed = true
	wake := h.genWaits
	h.mu.Unlock()
	if wake {
		signal(h.wake)
	}
}

// empty takes out what is left, once both ends have stopped.
func (h *handoff) empty() []*receipt {
	h.mu.Lock()
	defer h.mu.Unlock()
	rs := h.buf
	h.buf = nil
	return rs
}

// signal wakes the one goroutine that waits on c, if any, without waiting.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
