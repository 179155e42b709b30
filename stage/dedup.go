package stage

import (
	"context"
	"fmt"
)

// Dedup passes on an item unless its key, key(v), is among the window
// distinct keys seen most recently, in order, in the goroutine of the stage
// before it. Items left out are counted as Dropped, as Filter's are.
//
// A key is seen whenever an item has it, whether the item is passed on or
// left out: a key that keeps coming back stays recent and keeps being left
// out, and a key is forgotten once window other distinct keys have been
// seen since it last came. Memory is bounded by window keys; each run keeps
// keys of its own.
//
// key runs under the stage's error policy, like any user function: a panic
// in it is an error that names the stage and the item.
func Dedup[T any, K comparable](key func(T) K, window int, opts ...Option) *Of[T, T] {
	o := collect("dedup", opts)
	if key == nil {
		return invalidStage[T, T](o.name, "nil key function")
	}
	if window < 1 {
		return invalidStage[T, T](o.name, fmt.Sprintf("dedup window must be >= 1 key, got %d", window))
	}
	return keeperStage("dedup", func() func(context.Context, T) (bool, error) {
		seen := newRecent[K](window) // each run keeps keys of its own
		return func(_ context.Context, v T) (bool, error) { return !seen.see(key(v)), nil }
	}, opts, NextOf[T])
}

// recent holds the size distinct keys seen most recently: a map from key to
// slot and a doubly linked list of the slots, most recent first, kept in
// slices so that seeing a key allocates nothing once size keys have been
// seen.
type recent[K comparable] struct {
	size  int
	slot  map[K]int
	nodes []recentNode[K]
	head  int // the most recent key's slot; -1 when empty
	tail  int // the least recent key's slot
}

type recentNode[K comparable] struct {
	key        K
	prev, next int // towards the head and the tail; -1 at the ends
}

func newRecent[K comparable](size int) *recent[K] {
	return &recent[K]{size: size, slot: make(map[K]int, min(size, 1024)), head: -1, tail: -1}
}

// see records that k was seen and reports whether it already was, among the
// size keys seen most recently.
func (r *recent[K]) see(k K) bool {
	if i, ok := r.slot[k]; ok {
		if i != r.head {
			r.unlink(i)
			r.pushFront(i)
		}
		return true
	}
	var i int
	if len(r.nodes) < r.size {
		i = len(r.nodes)
		r.nodes = append(r.nodes, recentNode[K]{key: k})
	} else {
		// Full: the least recent key makes room.
		i = r.tail
		r.unlink(i)
		delete(r.slot, r.nodes[i].key)
		r.nodes[i].key = k
	}
	r.slot[k] = i
	r.pushFront(i)
	return false
}

func (r *recent[K]) unlink(i int) {
	n := &r.nodes[i]
	if n.prev >= 0 {
		r.nodes[n.prev].next = n.next
	} else {
		r.head = n.next
	}
	if n.next >= 0 {
		r.nodes[n.next].prev = n.prev
	} else {
		r.tail = n.prev
	}
}

func (r *recent[K]) pushFront(i int) {
	n := &r.nodes[i]
	n.prev, n.next = -1, r.head
	if r.head >= 0 {
		r.nodes[r.head].prev = i
	} else {
		r.tail = i
	}
	r.head = i
}
