package flow

import (
	"sync/atomic"
	"time"
)

// ChunkBudget is the work a chunk should hold: enough that one channel
// operation per chunk is a small cost next to the work, and little enough
// that the last chunks of a stream do not keep one worker busy long after
// the others have finished.
const ChunkBudget = 100 * time.Microsecond

// Linger is how long a worker waits for a chunk before it asks for a
// partly filled one: past it, the source is slower than the workers, and
// filling a chunk would only delay its items.
const Linger = 50 * time.Microsecond

// Sizer adapts the size of the chunks handed to workers to the measured
// cost of an item: cheap items travel in chunks of up to max, items that
// take ChunkBudget or more travel one at a time, so slow items spread over
// all workers as they free up. It starts at one item per chunk, the safe
// guess while nothing is known. Workers report what they measured with
// Observe; the producer reads Target. Both are safe for concurrent use.
type Sizer struct {
	target atomic.Int64
	max    int
}

// NewSizer returns a sizer for chunks of at most max items.
func NewSizer(max int) *Sizer {
	s := &Sizer{max: max}
	s.target.Store(1)
	return s
}

// Target is the number of items the next chunk should hold.
func (s *Sizer) Target() int { return int(s.target.Load()) }

// Observe records that n items took d.
func (s *Sizer) Observe(n int, d time.Duration) {
	size := int64(s.max)
	if d > 0 {
		size = min(int64(ChunkBudget)*int64(n)/int64(d), int64(s.max))
	}
	size = max(size, 1)
	if s.target.Load() != size {
		s.target.Store(size)
	}
}
