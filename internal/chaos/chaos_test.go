package chaos_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/pipeline"
)

// watchdog is how long a run may take before the suite gives up on it and
// fails with a dump of every goroutine. A run takes milliseconds; this
// leaves room for a loaded CI machine under the race detector.
const watchdog = 20 * time.Second

// TestChaos builds -chaos.runs random pipelines with random faults and
// checks the invariants of package chaos on each. Run i uses the seed
// -chaos.seed + i, so a failing run replays alone with its own seed and
// -chaos.runs=1.
func TestChaos(t *testing.T) {
	base := *seedFlag
	if base == 0 {
		base = time.Now().UnixNano() % 1_000_000_000_000
	}
	t.Logf("chaos: base seed %d, %d runs (replay all with -chaos.seed=%d)", base, *runsFlag, base)
	start := time.Now()
	failed := 0
	var tl tally
	for i := range *runsFlag {
		seed := base + int64(i)
		if !t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runOne(t, seed, &tl) }) {
			failed++
			if *maxFailFlag > 0 && failed >= *maxFailFlag {
				t.Logf("chaos: stopping after %d failing runs (-chaos.maxfail)", failed)
				break
			}
		}
	}
	t.Logf("chaos: done in %v, %d failing runs\n%s", time.Since(start).Round(time.Millisecond), failed, &tl)
}

// tally counts what the runs did, to show that the suite reaches what it
// claims to check.
type tally struct {
	runs, memChecked, outputsChecked int
	endings                          [faultkit.EndOther + 1]int
	events                           [evBudget + 1]int // runs with at least one
	budgetStops                      int
	outputs                          [outSequence + 1]int
	counts                           [nOutcomes]int64
}

func (tl *tally) add(r *runState, st pipeline.ExitStatus) {
	tl.runs++
	tl.endings[faultkit.EndingOf(st)]++
	seen := map[evKind]bool{}
	for _, e := range r.events {
		seen[e.kind] = true
	}
	for k := range seen {
		tl.events[k]++
	}
	if r.tr.bound > 0 {
		tl.memChecked++
	}
	if r.budgetStopped {
		tl.budgetStops++
	}
	tl.outputs[r.s.outputCheck()]++
	if r.outputChecked {
		tl.outputsChecked++
	}
	c := st.Counts
	for o, n := range [nOutcomes]int64{c.Dropped, c.Done, c.Skipped, c.DeadLettered, c.Failed, c.Abandoned} {
		tl.counts[o] += n
	}
}

func (tl *tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %d runs; endings:", tl.runs)
	for e, n := range tl.endings {
		fmt.Fprintf(&b, " %s %d;", faultkit.Ending(e), n)
	}
	fmt.Fprintf(&b, "\n  runs with:")
	for k, n := range tl.events {
		fmt.Fprintf(&b, " %s %d;", evNames[k], n)
	}
	fmt.Fprintf(&b, " stopped by the budget %d;", tl.budgetStops)
	fmt.Fprintf(&b, "\n  output predictable as:")
	for o, n := range tl.outputs {
		fmt.Fprintf(&b, " %s %d;", outputNames[o], n)
	}
	fmt.Fprintf(&b, " compared with the model in %d runs", tl.outputsChecked)
	fmt.Fprintf(&b, "\n  memory bound checked in %d runs", tl.memChecked)
	fmt.Fprintf(&b, "\n  source items:")
	for o, n := range tl.counts {
		fmt.Fprintf(&b, " %s %d;", outcomeNames[o], n)
	}
	return b.String()
}

// runOne builds and runs the pipeline of seed under its faults, with a
// watchdog, and checks every invariant.
func runOne(t *testing.T, seed int64, tl *tally) {
	ignore := goleak.IgnoreCurrent()
	s := generate(seed)
	if *verboseFlag {
		t.Log(s.describe())
	}
	r := newRunState(s)
	p := r.build()
	r.startTimers()

	done := make(chan pipeline.ExitStatus, 1)
	go func() { done <- p.Run(r.ctx) }()
	var st pipeline.ExitStatus
	timer := time.NewTimer(watchdog)
	select {
	case st = <-done:
		timer.Stop()
	case <-timer.C:
		stacks := faultkit.Stacks()
		r.cancel()
		t.Fatalf("chaos: Run did not return within %v\n%s\n%s\ngoroutines:\n%s", watchdog, replay(seed), s.describe(), stacks)
	}
	r.finish()
	r.check(st)
	tl.add(r, st)
	if err := goleak.Find(ignore); err != nil {
		r.violatef("goroutines left behind after Run returned: %v", err)
	}
	if len(r.violations) > 0 {
		t.Errorf("%s", r.report(st))
	}
}

// finish ends the run's side of the test: nothing more fires, the feeder,
// reader and timers stop, and a Collect sink's items are accounted for.
func (r *runState) finish() {
	close(r.runDone)
	r.fireMu.Lock()
	r.over = true
	r.fireMu.Unlock()
	r.cancel()
	if r.sinkCh != nil {
		close(r.sinkCh)
	}
	r.helpers.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.collected {
		r.tr.accept(v, r.s.sink.name)
	}
}

func replay(seed int64) string {
	return fmt.Sprintf("chaos: seed %d; replay with\n\tgo test ./internal/chaos -run TestChaos -chaos.seed=%d -chaos.runs=1", seed, seed)
}

// report is the failure message of a run: how to replay it, the pipeline,
// what happened, and every invariant it broke.
func (r *runState) report(st pipeline.ExitStatus) string {
	var b strings.Builder
	b.WriteString(replay(r.s.seed) + "\n")
	b.WriteString(r.s.describe())
	msg := faultkit.Clip(st.Message, 600)
	fmt.Fprintf(&b, "exit status: code %d, stage %q, target %q, message %q\n", st.Code, st.Stage, st.Target, msg)
	fmt.Fprintf(&b, "counts: %+v\n", st.Counts)
	fmt.Fprintf(&b, "events:")
	if len(r.events) == 0 {
		b.WriteString(" none")
	}
	for _, e := range r.events {
		fmt.Fprintf(&b, "\n  - %v", e)
	}
	fmt.Fprintf(&b, "\nseen: %d ticks, %d yields (%d true), %d source items taken, most in flight %d (bound %d), %d accepted by the sink\n",
		r.ticks.Load(), r.yieldCalls.Load(), r.yieldTrue.Load(), r.tr.taken, r.tr.maxLive, r.tr.bound, len(r.tr.sunk))
	b.WriteString("violations:")
	for _, v := range r.violations {
		fmt.Fprintf(&b, "\n  - %s", v)
	}
	return b.String()
}
