package flow

import (
	"runtime"
	"sync/atomic"
)

// Chunk is a run of items, with their tags, that crosses a channel between
// two goroutines in one channel operation instead of one per item. It
// stands for the input items First to First+N-1 of its stage: all of them
// on the way in, the results kept on the way out (ordered stages reorder
// by First). Chunks are recycled through a Chunks free list, so moving
// items costs no allocation once a run is warm.
type Chunk[T any] struct {
	First int64 // the stage's index of the chunk's first input item
	N     int   // input items the chunk stands for, kept or not
	Vs    []T
	Ts    []Tag

	// While a worker runs the chunk's items, span holds the next item to
	// claim and the end of the items left to it (each 32 bits), so that
	// idle workers can take the end of the chunk away (Steal). thieves
	// counts Steal calls still copying items out. They have a cache line
	// of their own: the worker updates span per item, and another chunk's
	// fields, which its filler writes per item, must not share it.
	_       [64]byte
	span    atomic.Uint64
	thieves atomic.Int32
	_       [64]byte
}

// Open makes the chunk's items available to Claim and Steal.
func (c *Chunk[T]) Open() { c.span.Store(uint64(len(c.Vs))) }

// Claim returns the position of the next item for the chunk's worker to
// run, or false when none is left to it.
func (c *Chunk[T]) Claim() (int, bool) {
	for {
		s := c.span.Load()
		next, end := s>>32, s&0xffffffff
		if next >= end {
			return 0, false
		}
		if c.span.CompareAndSwap(s, (next+1)<<32|end) {
			return int(next), true
		}
	}
}

// End is the end of the items left to the chunk's worker, once Claim has
// returned false: the items from End on were stolen.
func (c *Chunk[T]) End() int { return int(c.span.Load() & 0xffffffff) }

// Steal takes the second half (rounded up) of the items no worker has
// claimed yet, copying them into into, which becomes a chunk of its own.
// It returns false, taking nothing, when no item is left unclaimed. The
// chunk's worker must call Settle before it recycles the chunk.
func (c *Chunk[T]) Steal(into *Chunk[T]) bool {
	c.thieves.Add(1)
	defer c.thieves.Add(-1)
	for {
		s := c.span.Load()
		next, end := s>>32, s&0xffffffff
		if next >= end {
			return false
		}
		mid := next + (end-next)/2
		if c.span.CompareAndSwap(s, next<<32|mid) {
			into.Vs = append(into.Vs, c.Vs[mid:end]...)
			into.Ts = append(into.Ts, c.Ts[mid:end]...)
			into.First, into.N = c.First+int64(mid), int(end-mid)
			return true
		}
	}
}

// Settle waits until no Steal is copying items out of the chunk.
func (c *Chunk[T]) Settle() {
	for c.thieves.Load() > 0 {
		runtime.Gosched()
	}
}

// Add appends item v, tagged t.
func (c *Chunk[T]) Add(v T, t Tag) {
	c.Vs = append(c.Vs, v)
	c.Ts = append(c.Ts, t)
}

// Len is the number of items the chunk holds.
func (c *Chunk[T]) Len() int { return len(c.Vs) }

// Chunks is a free list of chunks. Get and Put never block: Get makes a
// chunk when none is free, and Put lets the garbage collector have a chunk
// when the list is full.
type Chunks[T any] struct {
	free chan *Chunk[T]
}

// NewChunks returns a free list that keeps up to keep chunks.
func NewChunks[T any](keep int) *Chunks[T] {
	return &Chunks[T]{free: make(chan *Chunk[T], keep)}
}

// Get returns an empty chunk. A new one has room for n items, the number
// the caller expects to add: a chunk grows past it as a slice does, and
// keeps what it grew to when it is recycled, so chunks of slow items (one
// each) stay small and chunks of cheap ones stop growing once warm.
func (p *Chunks[T]) Get(n int) *Chunk[T] {
	select {
	case c := <-p.free:
		return c
	default:
		return &Chunk[T]{Vs: make([]T, 0, n), Ts: make([]Tag, 0, n)}
	}
}

// Put empties c, dropping its references to items, and keeps it for reuse.
func (p *Chunks[T]) Put(c *Chunk[T]) {
	clear(c.Vs)
	clear(c.Ts)
	c.Vs, c.Ts, c.First, c.N = c.Vs[:0], c.Ts[:0], 0, 0
	c.span.Store(0)
	select {
	case p.free <- c:
	default:
	}
}
