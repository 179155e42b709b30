package source

import (
	"errors"
	"sync/atomic"
)

// errConcurrentYield fails a run whose generator called yield from several
// goroutines at once, which the source's state and the stages after it
// (run in the source's goroutine) are not made for.
var errConcurrentYield = errors.New("yield called from several goroutines at once: a generator must call it from one goroutine at a time")

// yieldGuard catches a generator calling yield from several goroutines at
// once, in race-enabled builds (raceEnabled). Calls from several goroutines
// one after another, ordered by the generator, pass.
type yieldGuard struct {
	busy    atomic.Bool // a yield is running
	misused atomic.Bool // two overlapped: every yield says false from then
}

// enter reports whether the caller may go on into yield; leave must follow.
func (g *yieldGuard) enter() bool {
	if g.misused.Load() {
		return false
	}
	if !g.busy.CompareAndSwap(false, true) {
		g.misused.Store(true)
		return false
	}
	return true
}

func (g *yieldGuard) leave() { g.busy.Store(false) }

// guardYield wraps yield with g's check.
func guardYield[T any](g *yieldGuard, yield func(T) bool) func(T) bool {
	return func(v T) bool {
		if !g.enter() {
			return false
		}
		defer g.leave()
		return yield(v)
	}
}

// guardEmit wraps emit with g's check.
func guardEmit[T any](g *yieldGuard, emit func(T, Receipt) bool) func(T, Receipt) bool {
	return func(v T, r Receipt) bool {
		if !g.enter() {
			return false
		}
		defer g.leave()
		return emit(v, r)
	}
}
