package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
)

// The tests of the per-stage report (ExitStatus.Report). Counts are
// checked exactly; time shares only against what sleeping handlers make
// certain (a stage that sleeps is busy, the stage feeding it waits), never
// against the machine's speed.

// repSleep is the time a slow handler sleeps per item.
const repSleep = 2 * time.Millisecond

// repInts returns 0, 1, ..., n-1.
func repInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// repIdentity is a cheap sequential stage named name.
func repIdentity(name string) stage.Stage {
	return stage.Map(func(_ context.Context, v int) (int, error) { return v, nil }, stage.Name(name))
}

// repSleepy is a handler that sleeps repSleep per item.
func repSleepy(_ context.Context, v int) (int, error) {
	time.Sleep(repSleep)
	return v, nil
}

// repSlowStage is the slow stage of the share and verdict tests: a Map
// that sleeps (workers 0), or a ParMap of that many workers that sleeps.
// The ParMap's buffer holds a few items per worker: few enough that the
// stage before it waits on it rather than filling a buffer that holds the
// whole input, enough that its workers find items waiting even when the
// goroutine feeding them gets no processor for a few milliseconds (a busy
// machine).
func repSlowStage(workers int) stage.Stage {
	if workers == 0 {
		return stage.Map(repSleepy, stage.Name("slow"))
	}
	return stage.ParMap(workers, stage.Func(repSleepy), stage.Name("slow"), stage.Buffer(4*workers))
}

// repSlowItems is the item count for a slow stage of workers workers:
// enough to keep every worker busy for a while (60 to 120 ms).
func repSlowItems(workers int) int { return 30 * max(workers, 2) }

// repRow is the exact part of a StageReport.
type repRow struct {
	Index   int
	Name    string
	Role    string
	Workers int
	In      int64
	Out     int64
	Errors  int64
	Skipped int64
	Retries int64
}

func repRows(r stats.Report) []repRow {
	rows := make([]repRow, len(r.Stages))
	for i, s := range r.Stages {
		rows[i] = repRow{
			Index: s.Index, Name: s.Name, Role: s.Role, Workers: s.Workers,
			In: s.In, Out: s.Out, Errors: s.Errors, Skipped: s.Skipped, Retries: s.Retries,
		}
	}
	return rows
}

// repSane checks what holds for every stage of every finished run: shares
// in [0, 1] of a positive wall, and times that match the shares; and with
// shares, that the shares add up to about 1 (see repMeasure).
func repSane(t *testing.T, shares assert.TestingT, r stats.Report) {
	t.Helper()
	require.NotEmpty(t, r.Stages)
	assert.Positive(t, r.Elapsed)
	for i, s := range r.Stages {
		assert.Equal(t, i, s.Index, "stage %d", i)
		if !assert.Positive(t, s.Wall, "stage %d %q", i, s.Name) {
			continue
		}
		for what, f := range map[string]float64{"busy": s.Busy, "idle": s.Idle, "backpressured": s.Backpressured} {
			assert.GreaterOrEqual(t, f, 0.0, "stage %d %q: %s share", i, s.Name, what)
			assert.LessOrEqual(t, f, 1.05, "stage %d %q: %s share", i, s.Name, what)
		}
		sum := s.Busy + s.Idle + s.Backpressured
		assert.InDelta(shares, 1.0, sum, 0.05, "stage %d %q: busy %.3f + idle %.3f + backpressured %.3f",
			i, s.Name, s.Busy, s.Idle, s.Backpressured)
		w := float64(s.Wall)
		assert.InDelta(t, float64(s.BusyTime)/w, s.Busy, 1e-6, "stage %d %q: BusyTime/Wall", i, s.Name)
		assert.InDelta(t, float64(s.IdleTime)/w, s.Idle, 1e-6, "stage %d %q: IdleTime/Wall", i, s.Name)
		assert.InDelta(t, float64(s.BackpressTime)/w, s.Backpressured, 1e-6, "stage %d %q: BackpressTime/Wall", i, s.Name)
	}
}

// repTable returns the table of the report, as WithReport writes it.
func repTable(t *testing.T, r stats.Report) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, r.WriteTable(&b))
	return b.String()
}

var errSeven = errors.New("multiple of 7")

// 1. The counts of every stage are exact, whatever the concurrency.
func TestReportCountsAreExact(t *testing.T) {
	const n = 5000
	items := repInts(n)
	// What each stage should see, from the items alone.
	var kept, failed int64
	for _, v := range items {
		if v%3 == 0 {
			continue // the filter drops it
		}
		kept++
		if v%7 == 0 {
			failed++ // the ParMap fails it, and skips it
		}
	}
	passed := kept - failed
	var wantSum int64 // of the items that reach the sink
	for _, v := range items {
		if v%3 != 0 && v%7 != 0 {
			wantSum += int64(v)
		}
	}
	require.Equal(t, int64(3333), kept) // a check on the check
	require.Equal(t, int64(476), failed)

	for _, workers := range []int{1, 2, 4, 8} {
		for _, ordered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d workers, ordered %v", workers, ordered), func(t *testing.T) {
				opts := []stage.Option{stage.Name("sevens"), stage.OnError(stage.Skip())}
				if ordered {
					opts = append(opts, stage.Ordered())
				}
				repMeasure(t, func(shares assert.TestingT) {
					var sum atomic.Int64
					st := pipeline.New(source.Slice(items)).
						Via(repIdentity("first")).
						Via(stage.Filter(func(_ context.Context, v int) (bool, error) { return v%3 != 0, nil }, stage.Name("thirds"))).
						Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) {
							if v%7 == 0 {
								return 0, errSeven
							}
							return v, nil
						}), opts...)).
						Via(repIdentity("last")).
						Sink(sink.Func(func(_ context.Context, v int) error {
							sum.Add(int64(v))
							return nil
						}).Named("out")).
						Run(context.Background())
					require.True(t, st.OK(), st.Message)
					assert.Equal(t, pipeline.Counts{In: n, Done: passed, Dropped: n - kept, Skipped: failed}, st.Counts)
					assert.Equal(t, wantSum, sum.Load(), "the sink got the items that passed")

					r := st.Report
					assert.Equal(t, []repRow{
						{Index: 0, Name: "slice", Role: stats.RoleSource, Workers: 1, In: n, Out: n},
						{Index: 1, Name: "first", Role: stats.RoleStage, In: n, Out: n},
						{Index: 2, Name: "thirds", Role: stats.RoleStage, In: n, Out: kept},
						{Index: 3, Name: "sevens", Role: stats.RoleStage, Workers: workers, In: kept, Out: passed, Errors: failed, Skipped: failed},
						{Index: 4, Name: "last", Role: stats.RoleStage, In: passed, Out: passed},
						{Index: 5, Name: "out", Role: stats.RoleSink, In: passed, Out: passed},
					}, repRows(r))
					for _, s := range r.Stages {
						if s.Workers > 0 && s.Role == stats.RoleStage {
							assert.NotNil(t, s.Queue, "stage %q has a queue", s.Name)
						} else {
							assert.Nil(t, s.Queue, "stage %q has no queue", s.Name)
						}
					}
					repSane(t, shares, r)
				})
			})
		}
	}
}

// Errors, skips, dead letters and retries are counted in the stage where
// they happen, under stage and pipeline policies, sink included.
func TestReportCountsFailuresWhereTheyHappen(t *testing.T) {
	const n = 1000
	items := repInts(n)
	var fives, elevens int64 // multiples of 5 fail in "retry"; of 11 (not of 5) in the sink
	for _, v := range items {
		switch {
		case v%5 == 0:
			fives++
		case v%11 == 0:
			elevens++
		}
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			var dead atomic.Int64
			dl := stage.DeadLetter(func(context.Context, stage.DeadLetterItem) error {
				dead.Add(1)
				return nil
			})
			st := pipeline.New(source.Slice(items), pipeline.OnError(stage.Skip())).
				Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) {
					if v%5 == 0 {
						return 0, errSeven
					}
					return v, nil
				}), stage.Name("retry"), stage.OnError(stage.Retry(3, 0, 0).Then(dl)))).
				Sink(sink.Func(func(_ context.Context, v int) error {
					if v%11 == 0 {
						return errSeven
					}
					return nil
				}).Named("picky")).
				Run(context.Background())
			require.True(t, st.OK(), st.Message)
			assert.Equal(t, fives, dead.Load())
			assert.Equal(t, pipeline.Counts{In: n, Done: n - fives - elevens, Skipped: elevens, DeadLettered: fives, Retried: 2 * fives}, st.Counts)
			assert.Equal(t, []repRow{
				{Index: 0, Name: "slice", Role: stats.RoleSource, Workers: 1, In: n, Out: n},
				{Index: 1, Name: "retry", Role: stats.RoleStage, Workers: workers, In: n, Out: n - fives, Errors: fives, Skipped: fives, Retries: 2 * fives},
				{Index: 2, Name: "picky", Role: stats.RoleSink, In: n - fives, Out: n - fives - elevens, Errors: elevens, Skipped: elevens},
			}, repRows(st.Report))
		})
	}
}

// repShares collects the failed checks of time shares.
type repShares struct{ failed []string }

func (c *repShares) Errorf(format string, args ...any) {
	c.failed = append(c.failed, fmt.Sprintf(format, args...))
}

// repMeasure runs measure up to three times, until the checks it makes on
// shares pass. Shares are measured on a machine that other processes may
// starve for tens of milliseconds, which no threshold survives every time;
// a wrong share fails every attempt. measure checks everything else with
// t, every time.
func repMeasure(t *testing.T, measure func(shares assert.TestingT)) {
	t.Helper()
	const attempts = 3
	for i := 1; ; i++ {
		var c repShares
		measure(&c)
		if len(c.failed) == 0 || t.Failed() {
			return
		}
		if i == attempts {
			for _, f := range c.failed {
				t.Errorf("in each of %d runs; in the last: %s", attempts, f)
			}
			return
		}
		t.Logf("run %d of %d: %d share checks failed, measuring again; the first:%s", i, attempts, len(c.failed), c.failed[0])
	}
}

// 2. A stage that sleeps is busy; the stage feeding it is backpressured;
// every stage's shares add up to its wall.
func TestReportShares(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 4} {
		name := "map"
		if workers > 0 {
			name = fmt.Sprintf("parmap %d", workers)
		}
		t.Run(name, func(t *testing.T) {
			items := repSlowItems(workers)
			repMeasure(t, func(shares assert.TestingT) {
				st := pipeline.New(source.Slice(repInts(items))).
					Via(repIdentity("cheap")).
					Via(repSlowStage(workers)).
					Sink(sink.Discard[int]()).
					Run(context.Background())
				require.True(t, st.OK(), st.Message)
				r := st.Report
				table := repTable(t, r)
				require.Len(t, r.Stages, 4, table)
				repSane(t, shares, r)

				cheap, slow := r.Stages[1], r.Stages[2]
				require.Equal(t, "slow", slow.Name)
				assert.Equal(t, workers, slow.Workers)
				assert.Greater(shares, slow.Busy, 0.9, "the sleeping stage is busy\n%s", table)
				assert.Greater(shares, cheap.Backpressured, 0.5, "the stage feeding it waits on it\n%s", table)
				// Sleeps last at least what they are asked: the busy time
				// covers them all, summed over the workers.
				assert.GreaterOrEqual(t, slow.BusyTime, time.Duration(items)*repSleep, table)
				if workers > 0 {
					// Each worker lives at most the run.
					assert.LessOrEqual(t, slow.Wall, time.Duration(workers)*r.Elapsed, table)
					require.NotNil(t, slow.Queue)
				} else {
					assert.LessOrEqual(t, slow.Wall, r.Elapsed, table)
					assert.Nil(t, slow.Queue)
				}
				// Every slow item is timed, and took at least the sleep. (A
				// ParMap may count an item twice: see
				// TestReportLatencyCountsEachItemOnce.)
				if workers == 0 {
					assert.Equal(t, uint64(items), slow.Latency.Count, table)
				} else {
					assert.GreaterOrEqual(t, slow.Latency.Count, uint64(items), table)
				}
				assert.GreaterOrEqual(t, slow.Latency.P50, repSleep, table)
				assert.GreaterOrEqual(t, slow.Latency.Max, slow.Latency.P99, table)
				assert.GreaterOrEqual(t, slow.Latency.P99, slow.Latency.P90, table)
				assert.GreaterOrEqual(t, slow.Latency.P90, slow.Latency.P50, table)
				assert.GreaterOrEqual(t, slow.Latency.Sum, time.Duration(items)*repSleep, table)
			})
		})
	}
}

// ParMap workers that wait for room downstream are backpressured, summed
// over the workers, and the slow stage after them is the bottleneck.
func TestReportSharesOfABackpressuredParMap(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("parmap %d", workers), func(t *testing.T) {
			repMeasure(t, func(shares assert.TestingT) {
				st := pipeline.New(source.Slice(repInts(repSlowItems(0)))).
					Via(repIdentity("cheap")).
					Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }),
						stage.Name("par"), stage.Buffer(4))).
					Via(repSlowStage(0)).
					Sink(sink.Discard[int]()).
					Run(context.Background())
				require.True(t, st.OK(), st.Message)
				r := st.Report
				table := repTable(t, r)
				require.Len(t, r.Stages, 5, table)
				repSane(t, shares, r)
				par, slow := r.Stages[2], r.Stages[3]
				assert.Equal(t, workers, par.Workers)
				assert.GreaterOrEqual(t, slow.BusyTime, time.Duration(repSlowItems(0))*repSleep, table)
				assert.Greater(shares, par.Backpressured, 0.5, "the workers wait for room\n%s", table)
				assert.Greater(shares, slow.Busy, 0.9, "the sleeping stage is busy\n%s", table)
				assert.Equal(shares, "slow", r.Verdict.Stage, table)
				assert.Equal(shares, 3, r.Verdict.Index, table)
				assert.Contains(shares, r.Verdict.Text, `"par" before it waits on it`, table)
				assert.Contains(shares, r.Verdict.Text, "ParMap instead", table)
			})
		})
	}
}

// 3. The verdict names the slow stage between two fast ones.
func TestReportVerdictNamesTheSlowStage(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 4} {
		name := "map"
		if workers > 0 {
			name = fmt.Sprintf("parmap %d", workers)
		}
		t.Run(name, func(t *testing.T) {
			repMeasure(t, func(shares assert.TestingT) {
				st := pipeline.New(source.Slice(repInts(repSlowItems(workers)))).
					Via(repIdentity("fast-before")).
					Via(repSlowStage(workers)).
					Via(repIdentity("fast-after")).
					Sink(sink.Discard[int]()).
					Run(context.Background())
				require.True(t, st.OK(), st.Message)
				v, table := st.Report.Verdict, repTable(t, st.Report)
				assert.Equal(shares, "slow", v.Stage, table)
				assert.Equal(shares, 2, v.Index, table)
				assert.Contains(shares, v.Text, "bottleneck", table)
				assert.Contains(shares, v.Text, `stage 2 "slow"`, table)
				assert.Contains(shares, v.Text, `"fast-before" before it waits on it`, table)
				if workers == 0 {
					assert.Contains(shares, v.Text, "ParMap instead", table)
				} else {
					assert.Contains(shares, v.Text, fmt.Sprintf("more workers than %d", workers), table)
				}
			})
		})
	}
}

// The verdict is wrong when the source feeds a concurrent stage directly:
// the source's time in the ParMap's intake, waiting for room, is recorded
// nowhere (flow.Meter.end adds to total only for meters without workers,
// and report takes the source's backpressure from the next stage's total),
// so the source shows 100% busy and is named the bottleneck.
func TestReportVerdictWhenTheSourceFeedsAParMap(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("parmap %d", workers), func(t *testing.T) {
			st := pipeline.New(source.Slice(repInts(repSlowItems(workers)))).
				Via(repSlowStage(workers)).
				Sink(sink.Discard[int]()).
				Run(context.Background())
			require.True(t, st.OK(), st.Message)
			table := repTable(t, st.Report)
			assert.Greater(t, st.Report.Stages[0].Backpressured, 0.5, "the source waits on the ParMap\n%s", table)
			assert.Equal(t, "slow", st.Report.Verdict.Stage, table)
		})
	}
}

// A ParMap's latency histogram counts each item at most once, and each
// slow item exactly once. It does not: flow.Shift.Worked observes the last
// chunk's per-item time for n*s.chunks items, n being the last chunk's
// size, as if every chunk since the last hand-over had n items. Chunks
// grow as the sizer learns, so Latency.Count overshoots In (cheap items:
// under -race nearly always, by up to half); and a chunk whose every item
// a thief took (n == 0, a chunk of one slow item) still counts in
// s.chunks, so the next slow item is counted twice (a few runs in a
// hundred, more with many workers).
func TestReportLatencyCountsEachItemOnce(t *testing.T) {
	t.Run("cheap items", func(t *testing.T) {
		for _, workers := range []int{1, 2, 4, 8} {
			st := pipeline.New(source.Slice(repInts(5000))).
				Via(repIdentity("first")).
				Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }), stage.Name("par"))).
				Sink(sink.Discard[int]()).
				Run(context.Background())
			require.True(t, st.OK(), st.Message)
			par := st.Report.Stages[2]
			assert.LessOrEqual(t, par.Latency.Count, uint64(par.In), "%d workers\n%s", workers, repTable(t, st.Report))
		}
	})
	t.Run("slow items", func(t *testing.T) {
		for range 10 {
			for _, workers := range []int{4, 8} {
				items := 10 * workers
				st := pipeline.New(source.Slice(repInts(items))).
					Via(repIdentity("cheap")).
					Via(repSlowStage(workers)).
					Sink(sink.Discard[int]()).
					Run(context.Background())
				require.True(t, st.OK(), st.Message)
				slow := st.Report.Stages[2]
				require.Equal(t, uint64(items), slow.Latency.Count, "%d workers\n%s", workers, repTable(t, st.Report))
			}
		}
	})
}

// 4. WithReport writes the table of ExitStatus.Report; the report
// round-trips through JSON.
func TestReportTableAndJSON(t *testing.T) {
	var buf syncbuf.Buffer
	st := pipeline.New(source.Slice(repInts(repSlowItems(2))), pipeline.WithReport(&buf)).
		Via(repIdentity("fast-before")).
		Via(repSlowStage(2)).
		Via(repIdentity("fast-after")).
		Sink(sink.Discard[int]().Named("bin")).
		Run(context.Background())
	require.True(t, st.OK(), st.Message)
	r := st.Report
	require.Len(t, r.Stages, 5)

	out := buf.String()
	assert.Equal(t, repTable(t, r), out, "WithReport writes the report's table, once")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 1+len(r.Stages)+1, out) // header, a row per stage, verdict
	for _, col := range []string{"stage", "workers", "in", "out", "items/s", "p50", "p90", "p99", "max", "busy", "idle", "backpr.", "errors", "queue"} {
		assert.Contains(t, strings.Fields(lines[0]), col, out)
	}
	for i, s := range r.Stages {
		assert.Contains(t, lines[1+i], fmt.Sprintf("%d %s", i, s.Name), out)
	}
	assert.Equal(t, r.Verdict.Text, lines[len(lines)-1], out)

	data, err := r.JSON()
	require.NoError(t, err)
	var back stats.Report
	require.NoError(t, json.Unmarshal(data, &back), string(data))
	// Everything but the histogram's buckets, which JSON leaves out.
	want := r
	want.Stages = append([]stats.StageReport(nil), r.Stages...)
	for i := range want.Stages {
		want.Stages[i].Latency.Below = nil
	}
	assert.Equal(t, want, back)
	assert.Equal(t, r.Verdict, back.Verdict)
	assert.Equal(t, repRows(r), repRows(back))
	// The names on the wire.
	var raw map[string]any
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.Contains(t, raw, "elapsed_ns")
	stages, ok := raw["stages"].([]any)
	require.True(t, ok)
	require.Len(t, stages, 5)
	slow, ok := stages[2].(map[string]any)
	require.True(t, ok)
	for _, k := range []string{"index", "name", "role", "workers", "in", "out", "errors", "skipped", "busy", "idle", "backpressured", "latency", "queue", "wall_ns"} {
		assert.Contains(t, slow, k)
	}
	assert.NotContains(t, stages[1].(map[string]any), "queue", "a sequential stage has no queue")
}

// 5. Without metrics the report is empty, and the run goes as ever.
func TestReportWithoutMetrics(t *testing.T) {
	var buf syncbuf.Buffer
	w := &repWatcher{}
	st := pipeline.New(source.Slice(repInts(100)), pipeline.WithoutMetrics(), pipeline.WithReport(&buf), pipeline.WithWatcher(w)).
		Via(repIdentity("first")).
		ParMap(2, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil })).
		Sink(sink.Discard[int]()).
		Run(context.Background())
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, pipeline.Counts{In: 100, Done: 100}, st.Counts)
	assert.Empty(t, st.Report.Stages)
	assert.Equal(t, stats.Report{}, st.Report)
	assert.Empty(t, buf.String(), "no report to write")
	live := w.get()
	require.NotNil(t, live, "the watcher is still told of the run")
	assert.Empty(t, live().Stages)

	t.Run("a run that cannot start has an empty report", func(t *testing.T) {
		st := pipeline.New(source.Slice(repInts(3))).
			ParMap(0, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil })).
			Sink(sink.Discard[int]()).
			Run(context.Background())
		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.Equal(t, stats.Report{}, st.Report)
	})
}

// repWatcher keeps the live function it is given.
type repWatcher struct {
	live  atomic.Pointer[func() stats.Report]
	calls atomic.Int32
	ready chan struct{} // closed at the first WatchRun, when not nil
}

func (w *repWatcher) WatchRun(live func() stats.Report) {
	w.live.Store(&live)
	if w.calls.Add(1) == 1 && w.ready != nil {
		close(w.ready)
	}
}

func (w *repWatcher) get() func() stats.Report {
	if p := w.live.Load(); p != nil {
		return *p
	}
	return nil
}

// 6. A watcher reads the report while the run goes, from a goroutine of its
// own, and the same report as ExitStatus once it ended.
func TestReportWatcher(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			const n = 2000
			w := &repWatcher{ready: make(chan struct{})}
			// The handler holds the run until the watcher has read it a
			// few times, so that those reads are made during the run.
			readDuring := make(chan struct{})
			done := make(chan struct{})
			var (
				wg       sync.WaitGroup
				readings []stats.Report
			)
			wg.Go(func() {
				select {
				case <-w.ready:
				case <-done:
					return
				}
				live := w.get()
				for i := 0; ; i++ {
					readings = append(readings, live())
					if i == 5 {
						close(readDuring)
					}
					select {
					case <-done:
						return
					case <-time.After(100 * time.Microsecond):
					}
				}
			})
			var held atomic.Bool
			st := pipeline.New(source.Slice(repInts(n)), pipeline.WithWatcher(w), pipeline.WithWatcher(nil)).
				Via(repIdentity("first")).
				Via(stage.ParMap(workers, stage.Func(func(ctx context.Context, v int) (int, error) {
					if v == n/2 && held.CompareAndSwap(false, true) {
						select {
						case <-readDuring:
						case <-ctx.Done():
							return 0, ctx.Err()
						}
					}
					return v, nil
				}), stage.Name("par"))).
				Via(repIdentity("last")).
				Sink(sink.Discard[int]()).
				Run(context.Background())
			close(done)
			wg.Wait()
			require.True(t, st.OK(), st.Message)
			assert.Equal(t, int32(1), w.calls.Load(), "WatchRun is called once per run")

			require.GreaterOrEqual(t, len(readings), 6)
			var last []int64
			for k, r := range readings {
				require.Len(t, r.Stages, 5, "reading %d", k)
				assert.Positive(t, r.Elapsed, "reading %d", k)
				for i, s := range r.Stages {
					assert.Equal(t, st.Report.Stages[i].Name, s.Name, "reading %d", k)
					assert.LessOrEqual(t, s.In, int64(n), "reading %d, stage %d", k, i)
					assert.LessOrEqual(t, s.Errors, s.In, "reading %d, stage %d", k, i)
					if last != nil {
						assert.GreaterOrEqual(t, s.In, last[i], "reading %d, stage %d: In never goes back", k, i)
					}
				}
				last = last[:0]
				for _, s := range r.Stages {
					last = append(last, s.In)
				}
			}
			assert.Less(t, readings[5].Stages[4].In, int64(n), "the sixth reading was made during the run")

			final := w.get()()
			assert.Equal(t, st.Report, final, "after the run, live reads the final report")
			var ins []int64
			for _, s := range final.Stages {
				ins = append(ins, s.In)
			}
			assert.Equal(t, []int64{n, n, n, n, n}, ins)
		})
	}
}

// 7. A failing run counts its failure in the failing stage, once.
func TestReportCountsTheFailureOfAFailedRun(t *testing.T) {
	const n, bad = 3000, 1234
	fail := func(_ context.Context, v int) (int, error) {
		if v == bad {
			return 0, errSeven
		}
		return v, nil
	}
	cases := []struct {
		name   string
		middle stage.Stage
		sink   sink.Sink
		failer int // index of the failing stage
	}{
		{"map", stage.Map(fail, stage.Name("failing")), sink.Discard[int](), 2},
		{"parmap 1", stage.ParMap(1, stage.Func(fail), stage.Name("failing")), sink.Discard[int](), 2},
		{"parmap 4", stage.ParMap(4, stage.Func(fail), stage.Name("failing")), sink.Discard[int](), 2},
		{"ordered parmap 4", stage.ParMap(4, stage.Func(fail), stage.Name("failing"), stage.Ordered()), sink.Discard[int](), 2},
		{"sink", repIdentity("middle"), sink.Func(func(ctx context.Context, v int) error {
			_, err := fail(ctx, v)
			return err
		}).Named("failing"), 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := pipeline.New(source.Slice(repInts(n))).
				Via(repIdentity("first")).
				Via(c.middle).
				Via(repIdentity("last")).
				Sink(c.sink).
				Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, errSeven)
			assert.Equal(t, "failing", st.Stage)
			assert.Equal(t, int64(1), st.Counts.Failed)

			r := st.Report
			require.Len(t, r.Stages, 5, "a failed run has its report")
			for i, s := range r.Stages {
				if i == c.failer {
					assert.Equal(t, "failing", s.Name)
					assert.Equal(t, int64(1), s.Errors, "the failing stage counts its failure")
					assert.Zero(t, s.Skipped, "a failure that stops the run is not skipped")
					assert.GreaterOrEqual(t, s.In, int64(bad+1), "the failing item went in")
				} else {
					assert.Zero(t, s.Errors, "stage %d %q", i, s.Name)
				}
				assert.LessOrEqual(t, s.In, int64(n), "stage %d", i)
				assert.LessOrEqual(t, s.Out, s.In, "stage %d", i)
			}
			if c.failer == 4 {
				assert.Equal(t, r.Stages[4].In-1, r.Stages[4].Out, "the sink passes on what it took, less its failure")
			}
		})
	}
}

// A failed run's shares add up too: the worker whose handler failed was
// busy on the item until it failed. They do not: work
// (stage/parmap_worker.go) returns on the handler's error, and on hand's,
// without recording the time since the chunk started (or since the last
// chunk was handed on), while the deferred Lived counts the worker's whole
// lifetime. The failing stage's Busy is too low (and the verdict may name
// another stage), and its shares add up to much less than 1.
func TestReportSharesOfAFailedRun(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("parmap %d", workers), func(t *testing.T) {
			st := pipeline.New(source.Slice(repInts(20))).
				Via(repIdentity("first")).
				Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) {
					time.Sleep(repSleep)
					if v == 10 {
						time.Sleep(25 * repSleep)
						return 0, errSeven
					}
					return v, nil
				}), stage.Name("failing"))).
				Sink(sink.Discard[int]()).
				Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			table := repTable(t, st.Report)
			failing := st.Report.Stages[2]
			assert.GreaterOrEqual(t, failing.BusyTime, 26*repSleep, "busy on the failing item until it failed\n%s", table)
			assert.InDelta(t, 1.0, failing.Busy+failing.Idle+failing.Backpressured, 0.05, table)
		})
	}
}
