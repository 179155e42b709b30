package flow

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// stub is a downstream port that takes d per call.
type stub struct {
	d     time.Duration
	items int
}

func (s *stub) Push(context.Context, int, Tag) error { s.items++; spin(s.d); return nil }
func (s *stub) Close(context.Context) error          { return nil }
func (s *stub) PushRun(_ context.Context, vs []int, _ []Tag) error {
	s.items += len(vs)
	spin(s.d)
	return nil
}

// spin waits d without sleeping, so the time is the caller's.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// meteredChain returns the metered ports of two fused stages, a in front of
// b in front of last, as the pipeline links them (index 0 is the source).
func meteredChain(last Port[int]) (a, b Port[int], run *Run) {
	run = NewRun(zap.NewNop(), FailFast())
	run.Metered = true
	run.Scope(0, "source")
	scA, scB := run.Scope(1, "a"), run.Scope(2, "b")
	b = Metered(scB, last)
	a = Metered(scA, b)
	run.linkMeters()
	return a, b, run
}

func TestMeterCountsEveryItemWhateverItTimes(t *testing.T) {
	a, _, run := meteredChain(&stub{})
	ctx := context.Background()
	ra := Runs(a)
	want := 0
	for i := range 5000 {
		if i%3 == 0 {
			require.NoError(t, a.Push(ctx, i, One()))
			want++
			continue
		}
		vs := make([]int, i%64)
		require.NoError(t, ra.PushRun(ctx, vs, nil))
		want += len(vs)
	}
	require.NoError(t, a.Close(ctx))
	ms := run.Meters()
	for _, m := range ms[1:] {
		r := m.Read()
		assert.EqualValues(t, want, r.In, "%s counts every item", r.Name)
		assert.Positive(t, r.Closed, "%s saw the end of its input", r.Name)
	}
	// The latency histogram counts the items the timed calls stand for.
	got := float64(ms[1].Read().Latency.Count)
	assert.InDelta(t, float64(want), got, 0.35*float64(want), "the sample stands for every item")
}

func TestMeterTimesSparseCallsAllAndSplitsAFusedChain(t *testing.T) {
	last := &stub{d: 300 * time.Microsecond}
	a, _, run := meteredChain(last)
	ctx := context.Background()
	const calls = 60
	start := time.Now()
	for i := range calls {
		require.NoError(t, a.Push(ctx, i, One()))
	}
	wall := time.Since(start)
	ms := run.Meters()
	ra, rb := ms[1].Read(), ms[2].Read()
	// Calls 300 µs apart are all timed (after the first), so b's own time is
	// the stub's, and a's is almost nothing: its calls are b's.
	assert.GreaterOrEqual(t, rb.Busy, (calls-2)*last.d, "b is busy in the stub")
	assert.LessOrEqual(t, rb.Busy, wall)
	assert.Less(t, ra.Busy, rb.Busy/10, "a's own time is a small share")
	assert.InDelta(t, float64(ra.Total), float64(rb.Total), float64(ra.Total)/10, "a's calls are b's")
	assert.GreaterOrEqual(t, rb.P50, last.d, "b's latency is the stub's")
	assert.Less(t, rb.P50, 10*last.d)
}

func TestMeterEstimatesDenseCallsFromASample(t *testing.T) {
	last := &stub{d: 0}
	a, _, run := meteredChain(last)
	ctx := context.Background()
	ra := Runs(a)
	vs := make([]int, 64)
	start := time.Now()
	for range 20000 {
		require.NoError(t, ra.PushRun(ctx, vs, nil))
	}
	wall := time.Since(start)
	r := run.Meters()[1].Read()
	assert.Less(t, r.Latency.Count, uint64(20000*64*2), "not every call is timed twice over")
	assert.Positive(t, r.Total, "the sample measured something")
	assert.Less(t, r.Total, 2*slack*wall, "and estimates no more time than there was")
}

func TestShiftHandsOverEverySixteenChunksOrAtOnceWhenSlow(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	run.Metered = true
	m := run.Scope(1, "p").Meter
	m.Concurrent(2)
	s := m.Shift()
	for range shiftEvery - 1 {
		s.Worked(time.Microsecond, time.Microsecond, 4)
	}
	assert.Zero(t, m.Read().Busy, "held until the 16th chunk")
	s.Worked(time.Microsecond, time.Microsecond, 4)
	r := m.Read()
	assert.Equal(t, shiftEvery*time.Microsecond, r.Busy)
	assert.Equal(t, shiftEvery*time.Microsecond, r.Idle)
	assert.EqualValues(t, 4*shiftEvery, r.Latency.Count, "one chunk stands for the 16")

	s.Worked(0, time.Millisecond, 1)
	assert.Equal(t, shiftEvery*time.Microsecond+time.Millisecond, m.Read().Busy, "a slow chunk at once")
	s.Blocked(time.Second)
	s.Queued(7)
	s.Flush()
	r = m.Read()
	assert.Equal(t, time.Second, r.Blocked)
	assert.Equal(t, 2, r.Workers)
	assert.EqualValues(t, 7, r.QueueInMax)
	var nilShift *Shift
	assert.NotPanics(t, func() { nilShift.Worked(1, 1, 1); nilShift.Flush() }, "an unmetered run's Shift is nil")
}

func TestAnUnmeteredRunHasNoMeters(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	sc := run.Scope(1, "x")
	assert.Nil(t, sc.Meter)
	p := &stub{}
	assert.Same(t, Port[int](p), Metered[int](sc, p), "the port is not wrapped")
	assert.Empty(t, run.Meters())
}

// A source that works 1 µs per item, feeding five fused stages that do
// nothing, spends most of its time in its own work: the clock reads and
// bookkeeping of the stages' timed calls are no stage's time, and only the
// timed calls pay them, so they must not be counted for every call. (They
// were, before the meter left its own cost out: the stages' time came to
// 39% of the wall, against 3-9% since.)
func TestMeterLeavesItsOwnCostOut(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	run.Metered = true
	run.Scope(0, "source")
	var p Port[int] = nothing{}
	for i := 5; i >= 1; i-- {
		p = Metered(run.Scope(i, "identity"), p)
	}
	run.linkMeters()
	ctx := context.Background()
	start := time.Now()
	for i := range 100_000 {
		spin(time.Microsecond)
		if err := p.Push(ctx, i, One()); err != nil {
			t.Fatal(err)
		}
	}
	wall := time.Since(start)
	stages := run.Meters()[1].Read().Total
	assert.Less(t, stages, slack*wall/4, "the stages' time, %v of %v", stages, wall)
	t.Logf("the stages' time: %v of %v", stages, wall)
}

// nothing is a port that takes items and does nothing at all.
type nothing struct{}

func (nothing) Push(context.Context, int, Tag) error { return nil }
func (nothing) Close(context.Context) error          { return nil }
