package connchaos_test

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/pipeline"
)

// sampleKind is what a measured time to Run's return counts from.
type sampleKind uint8

const (
	sampleStop  sampleKind = iota // a cancellation, a hard stop, or the fault that failed the run
	sampleDrain                   // a drain, nothing stopping it
)

type sample struct {
	kind   sampleKind
	outage bool // it came during a server outage
	took   time.Duration
}

func (r *runState) sample(k sampleKind, outage bool, took time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, sample{kind: k, outage: outage, took: took})
	r.mu.Unlock()
}

// tally counts what the runs did, to show that the suite reaches what it
// claims to check, and gathers the measured times to Run's return.
type tally struct {
	runs, faulty               int
	strandedOK, strandedOutage int
	failing                    []int64
	endings                    [faultkit.EndOther + 1]int
	sources                    [srcFIFO + 1]int
	sinks                      [snkWriter + 1]int
	events                     [evRestart + 1]int // runs with at least one
	maxDelivered               uint64
	times                      map[string][]time.Duration
}

func newTally() *tally { return &tally{times: map[string][]time.Duration{}} }

func (tl *tally) add(r *runState, st pipeline.ExitStatus, whole time.Duration) {
	tl.runs++
	tl.endings[faultkit.EndingOf(st)]++
	tl.sources[r.s.src.kind]++
	tl.sinks[r.s.sink.kind]++
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[evKind]bool{}
	for _, e := range r.events {
		seen[e.kind] = true
	}
	for k := range seen {
		tl.events[k]++
	}
	if len(r.failures) > 0 {
		tl.faulty++
	}
	tl.strandedOK += r.strandedOK
	tl.strandedOutage += r.strandedOutage
	for _, d := range r.delivered {
		tl.maxDelivered = max(tl.maxDelivered, d)
	}
	for _, s := range r.samples {
		name := []string{"return after a stop", "return after a drain"}[s.kind]
		if s.outage {
			name += " in an outage"
		}
		tl.times[name] = append(tl.times[name], s.took)
	}
	if !r.ended.IsZero() {
		tl.times["Run"] = append(tl.times["Run"], r.ended.Sub(r.start))
	}
	tl.times["whole run, setup to teardown"] = append(tl.times["whole run, setup to teardown"], whole)
}

func (tl *tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %d runs, %d with faults fired; endings:", tl.runs, tl.faulty)
	for e, n := range tl.endings {
		fmt.Fprintf(&b, " %s %d;", faultkit.Ending(e), n)
	}
	b.WriteString("\n  sources:")
	for k, n := range tl.sources {
		fmt.Fprintf(&b, " %s %d;", sourceNames[k], n)
	}
	b.WriteString(" sinks:")
	for k, n := range tl.sinks {
		fmt.Fprintf(&b, " %s %d;", sinkNames[k], n)
	}
	b.WriteString("\n  runs with:")
	for k, n := range tl.events {
		fmt.Fprintf(&b, " %s %d;", evNames[k], n)
	}
	fmt.Fprintf(&b, "\n  most deliveries of one message: %d; messages left in the queue under MaxDeliver by a stop at their last delivery: %d, by an outage: %d",
		tl.maxDelivered, tl.strandedOK, tl.strandedOutage)
	names := make([]string, 0, len(tl.times))
	for name := range tl.times {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ds := slices.Clone(tl.times[name])
		slices.Sort(ds)
		at := func(q float64) time.Duration {
			return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(time.Millisecond)
		}
		fmt.Fprintf(&b, "\n  %-36s n=%-4d p50 %-7v p90 %-7v p99 %-7v max %v", name+":", len(ds), at(0.5), at(0.9), at(0.99), ds[len(ds)-1].Round(time.Millisecond))
	}
	if len(tl.failing) > 0 {
		fmt.Fprintf(&b, "\n  failing seeds: %v", tl.failing)
	}
	return b.String()
}
