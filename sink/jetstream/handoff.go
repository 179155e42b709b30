package jetstream

import (
	"context"
	"sync"
)

// handoff carries the publishes from Push to confirm, in publish order, and
// bounds those awaiting confirmation (MaxPending). Push adds a run of
// publishes under one lock, and wakes confirm only if it waits; confirm
// takes every publish pending at once, and gives their places back once
// it has settled them. A place is taken before its item is published, so
// the client never holds more than max of the sink's publishes unanswered.
type handoff[T any] struct {
	max int

	mu      sync.Mutex
	pending []publish[T] // published, not yet taken by confirm
	held    int          // places taken: pending, and taken but not given back
	closed  bool         // no more publishes: Close was called
	// takerWaits and giverWaits say that confirm, or Push, waits for the
	// other to signal on ready, or on room (capacity 1 each): a signal is
	// sent only then, so a busy hand-off costs no channel operation.
	takerWaits bool
	giverWaits bool
	ready      chan struct{}
	room       chan struct{}
}

func newHandoff[T any](max int) *handoff[T] {
	return &handoff[T]{max: max, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// free waits until a place is free, and returns how many are: Push may
// publish that many before it calls put, as only confirm gives places
// back. It returns ctx's error if ctx is done first.
func (h *handoff[T]) free(ctx context.Context) (int, error) {
	h.mu.Lock()
	for h.held >= h.max {
		h.giverWaits = true
		h.mu.Unlock()
		select {
		case <-h.room:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		h.mu.Lock()
	}
	n := h.max - h.held
	h.mu.Unlock()
	return n, nil
}

// put hands pubs to confirm, which must fit in the places free said were
// free, and returns how many places are still free.
func (h *handoff[T]) put(pubs ...publish[T]) int {
	h.mu.Lock()
	h.pending = append(h.pending, pubs...)
	h.held += len(pubs)
	if h.takerWaits {
		h.takerWaits = false
		signal(h.ready)
	}
	n := h.max - h.held
	h.mu.Unlock()
	return n
}

// close says that no more publishes will come.
func (h *handoff[T]) close() {
	h.mu.Lock()
	h.closed = true
	if h.takerWaits {
		h.takerWaits = false
		signal(h.ready)
	}
	h.mu.Unlock()
}

// take waits for publishes, and returns every one pending, in spare's
// place (spare's items must be cleared). more is false once the hand-off
// is closed and empty. It returns ctx's error, with what is pending, if
// ctx is done first.
func (h *handoff[T]) take(ctx context.Context, spare []publish[T]) (pubs []publish[T], more bool, err error) {
	h.mu.Lock()
	for len(h.pending) == 0 && !h.closed {
		h.takerWaits = true
		h.mu.Unlock()
		select {
		case <-h.ready:
		case <-ctx.Done():
			return h.drain(spare), true, ctx.Err()
		}
		h.mu.Lock()
	}
	pubs, h.pending = h.pending, spare[:0]
	more = len(pubs) > 0 || !h.closed
	h.mu.Unlock()
	return pubs, more, nil
}

// drain returns every publish pending, without waiting.
func (h *handoff[T]) drain(spare []publish[T]) []publish[T] {
	h.mu.Lock()
	defer h.mu.Unlock()
	pubs := h.pending
	h.pending = spare[:0]
	return pubs
}

// release gives n places back, once confirm has settled their items.
func (h *handoff[T]) release(n int) {
	if n == 0 {
		return
	}
	h.mu.Lock()
	h.held -= n
	if h.giverWaits {
		h.giverWaits = false
		signal(h.room)
	}
	h.mu.Unlock()
}

// signal wakes the goroutine waiting on c, if it has not been woken yet.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
