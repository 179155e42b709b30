package pipeline

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/stats"
)

// Exit codes of an ExitStatus. A run stopped by a signal has code 128 + the
// signal's number, the shell's convention (130 for SIGINT, 143 for SIGTERM).
// The seed used the bare signal number (2 for SIGINT), which collides with
// CodeInvalid here and with the shell's own meaning of small codes.
const (
	CodeSuccess = 0 // the run went through (Message says what failed under a policy)
	CodeFailure = 1 // a failure stopped the run, or its context was cancelled
	CodeInvalid = 2 // the pipeline could not run; nothing was started
)

// ErrInvalid is matched by ExitStatus.Err (errors.Is) when the pipeline
// could not run: a type mismatch, a bad option, a missing handler or sink.
var ErrInvalid = flow.ErrInvalid

// ExitStatus is how a run ended: the seed's ExitStatus, usable as the
// process's exit code with os.Exit(status.Code).
type ExitStatus struct {
	// Code is CodeSuccess, CodeFailure, CodeInvalid, or 128 + a signal.
	Code int
	// Message is "Success" when every item the source emitted was done or
	// dropped by a Filter. A run with code 0 in which items failed under
	// an error policy says how many and where instead:
	//
	//	Finished with 5 of 200,000 items skipped (stage 3 "insert": 5) and 3 dead-lettered (stage 2 "decode": 2, stage 4 "send": 1)
	//
	// Otherwise it is the error (with its stack for a panic), or what a
	// signal did.
	Message string
	// Err is the error that ended the run, nil on success. Use errors.As
	// with *stage.Error, *stage.PanicError, *stage.BuildError or
	// *SignalError, and errors.Is with ErrInvalid or the handler's errors.
	Err error
	// Stage names the failing stage; Target is the failing item's label
	// (the seed's target_error, e.g. "18 / 50").
	Stage  string
	Target string
	// Duration is the time from Run's start to its return.
	Duration time.Duration
	// Counts says what happened to the items.
	Counts Counts
	// LeftBehind counts the goroutines still running when Run returned, 0
	// for almost every run. Run waits for every goroutine it started except
	// a source's that nothing can stop, so that it still returns promptly
	// after a stop: a read blocked inside an arbitrary io.Reader of a
	// textsrc source (pipes, FIFOs, terminals and sockets are interrupted
	// instead), or a generator under source.Merge that does not return
	// once its context is done. Such a goroutine ends by itself once what
	// it waits for returns. Message and the report say how many there are,
	// and the run's log names each one, with a warning.
	LeftBehind int
	// Stats is the final snapshot of the registry given with WithStats.
	Stats stats.Snapshot
	// Report says, stage by stage, what the run did and where its time
	// went, and names the bottleneck (see WithReport). It is empty for a
	// run that could not start, or ran WithoutMetrics.
	Report stats.Report
}

// Counts are a run's item counters in source items: whatever Batch, FlatMap
// and Filter did downstream, each item the source emitted is counted once,
// as exactly one of Done, Dropped, Skipped, DeadLettered, Requeued, Failed
// or Abandoned, so
//
//	In == Done + Dropped + Skipped + DeadLettered + Requeued + Failed + Abandoned
//
// A batch counts for all its members; a FlatMap parent takes the worst
// outcome of its children (Dropped < Done < Skipped < DeadLettered <
// Requeued < Failed). Retried counts extra attempts, not items.
type Counts struct {
	In           int64 // emitted by the source
	Done         int64 // accepted by the sink, through all their descendants
	Dropped      int64 // left out by a Filter, or by a FlatMap that gave no children
	Skipped      int64 // dropped by the Skip policy
	DeadLettered int64 // handed to a dead-letter function
	Requeued     int64 // failed under Retry and handed back to a source that redelivers them (source.WithReceipts)
	Failed       int64 // failures that stopped the run (fail fast)
	Abandoned    int64 // in flight when the run was cancelled, failed or stopped hard
	Retried      int64 // extra attempts made by the Retry policy
}

// countsOf reads the counters once every goroutine of the run has exited;
// what is not settled by then was abandoned.
func countsOf(c *flow.Counts) Counts {
	n := Counts{
		In: c.In.Load(), Done: c.Done.Load(), Dropped: c.Dropped.Load(), Skipped: c.Skipped.Load(),
		DeadLettered: c.DeadLettered.Load(), Requeued: c.Requeued.Load(), Failed: c.Failed.Load(), Retried: c.Retried.Load(),
	}
	n.Abandoned = n.In - n.Done - n.Dropped - n.Skipped - n.DeadLettered - n.Requeued - n.Failed
	return n
}

// finished is the message of a run that ended with code 0: "Success", or
// the items that failed under a policy, by outcome and stage.
func finished(c Counts, losses []flow.StageLosses) string {
	outcomes := []struct {
		name string
		n    int64
		of   func(flow.StageLosses) int64
	}{
		{"skipped", c.Skipped, func(l flow.StageLosses) int64 { return l.Skipped }},
		{"dead-lettered", c.DeadLettered, func(l flow.StageLosses) int64 { return l.DeadLettered }},
		{"failed", c.Failed, func(l flow.StageLosses) int64 { return l.Failed }},
	}
	var parts []string
	for _, o := range outcomes {
		if o.n == 0 {
			continue
		}
		var where []string
		for _, l := range losses {
			if n := o.of(l); n > 0 {
				where = append(where, fmt.Sprintf("stage %d %q: %s", l.Index, l.Stage, flow.Thousands(n)))
			}
		}
		part := flow.Thousands(o.n) + " " + o.name
		if len(parts) == 0 {
			part = fmt.Sprintf("%s of %s items %s", flow.Thousands(o.n), flow.Thousands(c.In), o.name)
		}
		parts = append(parts, part+" ("+strings.Join(where, ", ")+")")
	}
	switch len(parts) {
	case 0:
		return "Success"
	case 1:
		return "Finished with " + parts[0]
	}
	return "Finished with " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// String reads like the seed's: "Finished with code 0 in 6.32s with
// message: [Success]".
func (s ExitStatus) String() string {
	return fmt.Sprintf("Finished with code %d in %.2fs with message: [%s]", s.Code, s.Duration.Seconds(), s.Message)
}

// OK reports whether the run succeeded.
func (s ExitStatus) OK() bool { return s.Code == CodeSuccess }

// SignalError is ExitStatus.Err for a run stopped by a signal.
type SignalError struct {
	Signal os.Signal
	// Hard is true when the run did not finish draining: a second signal,
	// or a cancellation of Run's context, stopped it and in-flight items were
	// abandoned. It is false when the run drained.
	Hard bool
}

func (e *SignalError) Error() string {
	if e.Hard {
		return fmt.Sprintf("stopped hard by a second %v", e.Signal)
	}
	return fmt.Sprintf("drained after %v", e.Signal)
}
