package flow

import (
	"context"
	"sync"
)

// Window bounds the items in some part of a stage: a queue, or what is
// between an ordered stage's intake and its emitter. Goroutines acquire
// places and others release them. Neither allocates, so moving chunks stays
// free of allocations, and each costs one uncontended lock per chunk.
type Window struct {
	mu      sync.Mutex
	free    int           // places not taken
	waiting int           // Acquire calls waiting for places
	wake    chan struct{} // one token per waiter a Release wakes
}

// NewWindow returns a window of size places for up to acquirers goroutines
// that call Acquire at the same time.
func NewWindow(size, acquirers int) *Window {
	return &Window{free: size, wake: make(chan struct{}, acquirers)}
}

// Acquire takes n places, waiting for releases while there are not enough,
// or returns ctx's error once ctx is done, having taken nothing.
func (w *Window) Acquire(ctx context.Context, n int) error {
	w.mu.Lock()
	for w.free < n {
		// Count as waiting before unlocking: a Release from now on leaves
		// a token for this call, so it cannot miss one.
		w.waiting++
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			w.mu.Lock()
			w.waiting--
			w.mu.Unlock()
			return ctx.Err()
		}
		w.mu.Lock()
		w.waiting--
	}
	w.free -= n
	w.mu.Unlock()
	return nil
}

// TryAcquire takes n places if there are enough, without waiting.
func (w *Window) TryAcquire(n int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.free < n {
		return false
	}
	w.free -= n
	return true
}

// Release gives back n places and wakes every waiting Acquire to look
// again. It returns how many places are free after it.
func (w *Window) Release(n int) (free int) {
	w.mu.Lock()
	w.free += n
	free = w.free
	waiting := w.waiting
	w.mu.Unlock()
	for range waiting {
		select {
		case w.wake <- struct{}{}:
		default:
			return free // full: every waiter has a token already
		}
	}
	return free
}
