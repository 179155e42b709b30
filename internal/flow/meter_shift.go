package flow

import "time"

// shiftEvery is how many of a worker's chunks a Shift sums before it hands
// them to the meter: atomic operations on a meter that every worker shares
// would cost more per chunk than a cheap chunk's items. Slow chunks, over
// slowChunk, are handed on at once.
const (
	shiftEvery = 16
	slowChunk  = 20 * time.Microsecond
)

// Shift is one worker's part of a concurrent stage's meter: it sums the
// worker's time and hands it on now and then. It belongs to one goroutine.
// The methods of a nil Shift (the run is not metered) do nothing.
type Shift struct {
	m                   *Meter
	busy, idle, blocked time.Duration
	chunks              int // since the last hand-over
	queued              int // items in the input queue at the last chunk taken
}

// Shift returns a Shift of m, or nil if m is nil.
func (m *Meter) Shift() *Shift {
	if m == nil {
		return nil
	}
	return &Shift{m: m}
}

// Worked records that the worker ran the handler on n items for d, after
// waiting idle for them. The item latency is sampled with the time: one chunk in shiftEvery stands for
// those since the last, unless it is slow.
func (s *Shift) Worked(idle, d time.Duration, n int) {
	if s == nil {
		return
	}
	s.idle += idle
	s.busy += d
	s.chunks++
	if s.chunks < shiftEvery && d < slowChunk {
		return
	}
	if n > 0 {
		s.m.Latency.Observe(d/time.Duration(n), n*s.chunks)
	}
	s.Flush()
}

// Queued records that n items wait in the stage's input queue; the last
// value is sampled when the Shift hands over.
func (s *Shift) Queued(n int) {
	if s != nil {
		s.queued = n
	}
}

// Blocked records that the worker waited d for room downstream.
func (s *Shift) Blocked(d time.Duration) {
	if s != nil {
		s.blocked += d
	}
}

// Flush hands what the Shift holds to the meter.
func (s *Shift) Flush() {
	if s == nil {
		return
	}
	m := s.m
	m.busy.Add(int64(s.busy))
	m.idle.Add(int64(s.idle))
	m.blocked.Add(int64(s.blocked))
	m.queueIn.Sample(s.queued)
	s.busy, s.idle, s.blocked, s.chunks = 0, 0, 0, 0
}
