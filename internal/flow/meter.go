package flow

import (
	"sync/atomic"
	"time"
)

// Meter measures one stage of a run: what went in, what failed, how long its
// items took, and how its time splits into busy, idle and backpressured.
//
// The items of a sequential stage are counted and timed by the meterPort in
// front of it (meter_port.go), in the goroutine that calls it; a concurrent
// stage (ParMap, a Batch with MaxWait) records its workers' time itself
// (through a Shift per worker). Nothing takes a lock or allocates per item.
type Meter struct {
	Index int
	Name  string

	run *Run
	// parent is the meter of the sequential stage before this one, whose
	// calls this meter's calls run inside, or nil when this stage is called
	// from a goroutine of its own: after the source or a concurrent stage.
	parent *Meter

	// Counters read while the run goes on.
	in      atomic.Int64 // items in, published from n now and then
	errors  atomic.Int64 // items that failed for good here
	skipped atomic.Int64 // of those, the ones skipped or dead-lettered
	retries atomic.Int64 // extra attempts

	// Time, in nanoseconds. For a sequential stage, weighted estimates
	// from the sampled calls (meter_port.go); for a concurrent stage, the
	// sums over its workers.
	total    atomic.Int64 // time in its calls, including the stages after it
	busy     atomic.Int64
	idle     atomic.Int64 // concurrent only
	blocked  atomic.Int64 // concurrent only: waiting for room downstream
	lifetime atomic.Int64 // concurrent only: the workers' lifetimes, summed
	closed   atomic.Int64 // when its input ended, since the run started; 0 while open

	workers atomic.Int32 // 0 for a sequential stage
	Latency Histogram

	// The goroutines of a concurrent stage (its caller, its workers and its
	// emitter) write to the meter at once: each group of fields below is on
	// cache lines of its own, so that they do not slow each other down.
	_        [64]byte
	queueIn  Depth // written by the workers
	_        [64]byte
	queueOut Depth // written by the emitter
	_        [64]byte

	// The state of the goroutine that calls the stage.
	own    bool          // the stage has workers, which record its time
	n      int64         // items in
	skip   int           // calls left before the next timed one
	timing bool          // in a timed call
	weight int64         // how many calls the timed one stands for
	last   time.Duration // when the last timed call started
	rng    uint64        // xorshift state for the gaps between timed calls
	child  int64         // time spent in the stages after this one during the timed call
	extra  int64         // of which the overhead of their timed calls
	cost   int64         // what a timed call of this stage costs its caller beyond its time (see overhead)
	_      [64]byte
}

// Depth samples how many items wait in a queue.
type Depth struct {
	sum, samples, max atomic.Int64
}

// Sample records that n items wait.
func (d *Depth) Sample(n int) {
	d.sum.Add(int64(n))
	d.samples.Add(1)
	for m := d.max.Load(); int64(n) > m && !d.max.CompareAndSwap(m, int64(n)); m = d.max.Load() {
	}
}

// Read returns the mean and the largest depth seen.
func (d *Depth) Read() (mean float64, largest int64) {
	if s := d.samples.Load(); s > 0 {
		mean = float64(d.sum.Load()) / float64(s)
	}
	return mean, d.max.Load()
}

// Concurrent marks the stage as running workers goroutines of its own, which
// record their time through a Shift each. A stage calls it while it
// attaches; stages in a Chain add up.
func (m *Meter) Concurrent(workers int) {
	if m != nil {
		m.workers.Add(int32(workers))
	}
}

// Now returns the time since the run started, from the monotonic clock.
func (m *Meter) Now() time.Duration { return time.Since(m.run.Start) }

// Lived records that a worker ran for d, from start to exit.
func (m *Meter) Lived(d time.Duration) { m.lifetime.Add(int64(d)) }

// QueueOut samples the depth of a concurrent stage's output queue; its
// workers sample the input queue through their Shift.
func (m *Meter) QueueOut(n int) { m.queueOut.Sample(n) }

// failed counts an item that failed for good; went says whether the run
// went on without it (skipped or dead-lettered).
func (m *Meter) failed(wentOn bool) {
	if m == nil {
		return
	}
	m.errors.Add(1)
	if wentOn {
		m.skipped.Add(1)
	}
}

func (m *Meter) retried() {
	if m != nil {
		m.retries.Add(1)
	}
}

// publish makes the items counted so far visible to readers.
func (m *Meter) publish() { m.in.Store(m.n) }

// MeterReading is what a meter holds at one moment.
type MeterReading struct {
	Index   int
	Name    string
	Workers int
	In      int64
	Errors  int64
	Skipped int64
	Retries int64
	// Closed is when the stage's input ended, since the run started, or 0
	// while it is open.
	Closed time.Duration
	// Total is the time spent in a sequential stage's calls, including the
	// stages after it; Busy is the part in the stage itself. For a
	// concurrent stage, Busy, Idle and Blocked are summed over its workers,
	// and Lifetime is the sum of their lifetimes.
	Total, Busy, Idle, Blocked, Lifetime time.Duration
	Latency                              HistogramSnapshot
	P50, P90, P99                        time.Duration
	QueueInMean, QueueOutMean            float64
	QueueInMax, QueueOutMax              int64
}

// Read returns the meter's current values; it is safe while the run goes
// on.
func (m *Meter) Read() MeterReading {
	r := MeterReading{
		Index: m.Index, Name: m.Name, Workers: int(m.workers.Load()),
		In: m.in.Load(), Errors: m.errors.Load(), Skipped: m.skipped.Load(), Retries: m.retries.Load(),
		Closed: time.Duration(m.closed.Load()),
		Total:  time.Duration(m.total.Load()), Busy: time.Duration(m.busy.Load()),
		Idle: time.Duration(m.idle.Load()), Blocked: time.Duration(m.blocked.Load()),
		Lifetime: time.Duration(m.lifetime.Load()),
		Latency:  m.Latency.Snapshot(),
		P50:      m.Latency.Quantile(0.5), P90: m.Latency.Quantile(0.9), P99: m.Latency.Quantile(0.99),
	}
	r.QueueInMean, r.QueueInMax = m.queueIn.Read()
	r.QueueOutMean, r.QueueOutMax = m.queueOut.Read()
	return r
}
