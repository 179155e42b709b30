package flow

import (
	"context"
	"slices"
	"sync"
	"time"
)

// How often a sequential stage's calls are timed. Reading the clock twice
// costs about as much as a cheap stage's work on a whole run of items, so
// the meter times one call in period, on average, and counts it for the
// calls it skipped. While calls come sparseCall or more apart, it times
// them all, as the clock then costs little next to them. The stages called
// from inside a timed call are timed in it too, so a fused chain samples
// the same calls throughout and each stage's own time is its call's less
// its successors'.
const (
	runPeriod  = 32 // a run in 32, for stages that take runs of items
	itemPeriod = 64 // an item in 64, for items pushed one at a time
	sparseCall = 2 * time.Microsecond
)

// Metered returns p behind the meter of the stage in sc, or p itself when
// the run is not metered. The stage's Attach wraps the Port it returns so.
func Metered[T any](sc *Scope, p Port[T]) Port[T] {
	if sc.Meter == nil {
		return p
	}
	return &meterPort[T]{down: Runs(p), m: sc.Meter}
}

// meterPort counts and times the calls into a sequential stage. It is used
// by one goroutine at a time, like every Port, and so keeps its state in
// plain fields.
type meterPort[T any] struct {
	down RunPort[T]
	m    *Meter
}

func (p *meterPort[T]) Push(ctx context.Context, v T, t Tag) error {
	m := p.m
	m.n++
	if !m.sampled() {
		return p.down.Push(ctx, v, t)
	}
	start := m.begin()
	err := p.down.Push(ctx, v, t)
	m.end(start, 1, itemPeriod)
	return err
}

func (p *meterPort[T]) PushRun(ctx context.Context, vs []T, ts []Tag) error {
	m := p.m
	m.n += int64(len(vs))
	if !m.sampled() {
		return p.down.PushRun(ctx, vs, ts)
	}
	start := m.begin()
	err := p.down.PushRun(ctx, vs, ts)
	m.end(start, len(vs), runPeriod)
	return err
}

func (p *meterPort[T]) Close(ctx context.Context) error {
	err := p.down.Close(ctx)
	p.m.publish()
	p.m.closed.Store(int64(max(p.m.Now(), 1)))
	return err
}

// sampled says whether to time this call: when the stage before is timing
// the call this one runs in, or, for the first sequential stage after a
// goroutine, every so often.
func (m *Meter) sampled() bool {
	if m.parent != nil {
		m.weight = m.parent.weight
		return m.parent.timing
	}
	if m.skip > 0 {
		m.skip--
		return false
	}
	return true
}

func (m *Meter) begin() time.Duration {
	m.timing = true
	m.child, m.extra = 0, 0
	return m.Now()
}

// end records a timed call that took n items from start, and for the first
// stage after a goroutine, picks the calls to skip before the next timed one
// (period - 1 on average, or none while calls are sparse).
func (m *Meter) end(start time.Duration, n, period int) {
	d := int64(m.Now() - start)
	m.timing = false
	m.publish()
	// The timed calls of the stages after this one cost overhead each,
	// outside their own d but inside this one's: it is no stage's time,
	// and the calls that are not timed do not pay it.
	w := m.weight
	m.total.Add(max(d-m.extra, 0) * w) // for a source before this stage: its wait
	if !m.own {
		// A concurrent stage's workers record its time; what its callers
		// spend here is theirs, waiting for room.
		self := max(d-m.child, 0)
		m.busy.Add(self * w)
		if n > 0 {
			m.Latency.Observe(time.Duration(self/int64(n)), n*int(w))
		}
	}
	if m.parent != nil {
		m.parent.child += d + m.cost
		m.parent.extra += m.extra + m.cost
		return
	}
	// The calls since the last timed one came every gap on average.
	gap := (start - m.last) / time.Duration(w)
	m.last = start
	m.skip = 0
	if gap < sparseCall {
		// A random gap, period calls on average: a fixed one could keep
		// step with the stage's own rhythm (one call in 64 hands a full
		// chunk to a ParMap and waits) and always miss, or always hit, it.
		m.rng ^= m.rng << 13
		m.rng ^= m.rng >> 7
		m.rng ^= m.rng << 17
		m.skip = int(m.rng % uint64(2*period-1))
	}
	m.weight = int64(m.skip + 1)
}

// overhead returns what a timed call costs its caller beyond the time the
// call measures itself (its clock reads and bookkeeping), measured once per
// process: the median of the mean cost over a few rounds of timed calls
// into a stage that does nothing. It is an estimate: the cost varies a
// little with where the call is, and each timed call stands for many, so
// the shares of the cheapest fused stages stay a few nanoseconds per item
// too high.
var overhead = sync.OnceValue(func() int64 {
	run := &Run{Start: time.Now()}
	outer := &Meter{run: run, weight: 1}
	inner := &Meter{run: run, weight: 1, parent: outer} // cost 0: all of it shows in outer
	p := &meterPort[struct{}]{down: Runs[struct{}](nopPort{}), m: inner}
	ctx := context.Background()
	means := make([]int64, 9)
	for r := range means {
		const calls = 200
		for range calls {
			start := outer.begin()
			_ = p.Push(ctx, struct{}{}, Tag{})
			means[r] += int64(outer.Now()-start) - outer.child
			outer.timing = false
		}
		means[r] /= calls
	}
	slices.Sort(means)
	return max(means[len(means)/2], 0)
})

// nopPort takes items and does nothing with them.
type nopPort struct{}

func (nopPort) Push(context.Context, struct{}, Tag) error { return nil }
func (nopPort) Close(context.Context) error               { return nil }
