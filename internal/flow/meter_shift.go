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
	chunks, items       int           // since the last hand-over
	per                 time.Duration // the time per item of the last chunk with items
	queued              int           // items in the input queue at the last chunk taken
}

// Shift returns a Shift of m, or nil if m is nil.
func (m *Meter) Shift() *Shift {
	if m == nil {
		return nil
	}
	return &Shift{m: m}
}

// Worked records that the worker ran the handler on n items for d, after
// waiting idle for them. The item latency is sampled with the time: the
// last chunk's time per item stands for the items of the chunks since the
// last hand-over.
func (s *Shift) Worked(idle, d time.Duration, n int) {
	if s == nil {
		return
	}
	s.idle += idle
	s.busy += d
	s.chunks++
	if n > 0 {
		s.items += n
		s.per = d / time.Duration(n)
	}
	if s.chunks < shiftEvery && d < slowChunk {
		return
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
	m.Latency.Observe(s.per, s.items)
	s.busy, s.idle, s.blocked, s.chunks, s.items = 0, 0, 0, 0, 0
}

// WorkClock is one worker's time, since the run started: it looks for work
// from looked, runs the handler from start to the next Done, and waits for
// room downstream when it must (Blocked). It times each piece of work for
// the chunk sizer, and hands the split of the worker's time to its Shift,
// nil when the run is not metered. A worker defers Stop.
type WorkClock struct {
	shift               *Shift
	clock               time.Time
	born, looked, start time.Duration
	busy                bool // between Start and Done
}

// NewWorkClock starts the clock of a worker of run, whose part of the
// stage's meter is s (nil when the run is not metered).
func NewWorkClock(run *Run, s *Shift) *WorkClock {
	c := &WorkClock{shift: s, clock: run.Start}
	c.born = time.Since(c.clock)
	c.looked = c.born
	return c
}

// Start marks that the worker starts running the handler.
func (c *WorkClock) Start() {
	c.start, c.busy = time.Since(c.clock), true
}

// Done marks that the worker ran the handler on n items since Start, and
// returns how long that took.
func (c *WorkClock) Done(n int) time.Duration {
	done := time.Since(c.clock)
	d := done - c.start
	c.shift.Worked(c.start-c.looked, d, n)
	c.looked, c.busy = done, false
	return d
}

// Blocked records that the worker waited d for room downstream since Done.
func (c *WorkClock) Blocked(d time.Duration) {
	c.shift.Blocked(d)
	c.looked += d
}

// Stop counts the worker's last moments where they belong (in the handler,
// or looking for work: a wait for room cut short counts as idle) and hands
// everything to the meter, with the worker's lifetime.
func (c *WorkClock) Stop() {
	if c.shift == nil {
		return
	}
	end := time.Since(c.clock)
	if c.busy {
		c.shift.Worked(c.start-c.looked, end-c.start, 0)
	} else {
		c.shift.Worked(end-c.looked, 0, 0)
	}
	c.shift.Flush()
	c.shift.m.Lived(end - c.born)
}
