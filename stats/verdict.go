package stats

import "fmt"

// Thresholds of the verdict: a stage busy at least saturated of its time is
// what holds the run back; the stage before it, backpressured at least
// waiting of its time, confirms it.
const (
	saturated = 0.5
	waiting   = 0.5
)

// judge names the busiest stage, if it is busy most of its time: with a
// single goroutine or a fixed pool of workers, that stage sets the pace of
// the run, and the stages before it wait on it.
func judge(stages []StageReport) Verdict {
	best := -1
	for i, s := range stages {
		if best < 0 || s.Busy > stages[best].Busy {
			best = i
		}
	}
	if best < 0 {
		return Verdict{Index: -1, Text: "no stages were measured"}
	}
	b := stages[best]
	if b.Busy < saturated {
		return Verdict{Index: -1, Text: fmt.Sprintf(
			"no bottleneck: no stage was busy half of its time (the busiest, %q, %.0f%%); the run waits on something outside it, or has too little work to fill it",
			b.Name, 100*b.Busy)}
	}
	text := fmt.Sprintf("bottleneck: stage %d %q, busy %.0f%% of its time", b.Index, b.Name, 100*b.Busy)
	if best > 0 {
		if prev := stages[best-1]; prev.Backpressured >= waiting {
			text += fmt.Sprintf(", while %q before it waits on it %.0f%% of its time", prev.Name, 100*prev.Backpressured)
		}
	}
	return Verdict{Stage: b.Name, Index: b.Index, Text: text + ". " + advice(b)}
}

// advice says what to try on the bottleneck b.
func advice(b StageReport) string {
	switch {
	case b.Role == RoleSource:
		return "Try: a faster source; the stages after it have time to spare."
	case b.Role == RoleSink:
		return "Try: writing in larger batches (a Batch before the sink), or a faster sink; or run the writes in a ParMap before a light sink."
	case b.Workers == 0:
		return "Try: ParMap instead, to run its function on several workers; it runs in the goroutine of the stage before it."
	default:
		return fmt.Sprintf("Try: more workers than %d if its handler waits (I/O, sleeps); if it computes, a faster handler or more cores (GOMAXPROCS).", b.Workers)
	}
}
