package chaos_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/stage"
)

// stopped reports whether a stop (a fatal failure, a cancellation or a hard
// stop) was recorded: then items may be abandoned.
func (r *runState) stopped() bool {
	for _, e := range r.events {
		if e.kind != evDrain {
			return true
		}
	}
	return false
}

// allowedEndings says how the run may end, given the run-level events in
// the order they happened. The fault that stops the run first decides: a
// fatal failure or a cancellation gives 1, a drain 130, a hard stop 130
// Hard. A signal after a stop changes nothing: the run was already
// stopping. A failure during a drain fails the run (1): the drain did not
// finish, and "drained" would claim that it did; a cancellation during a
// drain keeps the signal's 130, but must not claim a drain either if it
// abandoned items. Where two faults race (a failure and a hard stop, each
// cancelling the run) either may win.
func (r *runState) allowedEndings() (map[faultkit.Ending]bool, string) {
	first := func(match func(evKind) bool) (int, *event) {
		for i := range r.events {
			if match(r.events[i].kind) {
				return i, &r.events[i]
			}
		}
		return -1, nil
	}
	is := func(k evKind) func(evKind) bool { return func(x evKind) bool { return x == k } }
	iStop, stop := first(func(k evKind) bool { return k != evDrain })
	iDrain, _ := first(is(evDrain))
	_, fatal := first(is(evFatal))
	_, hard := first(is(evHard))

	ok := map[faultkit.Ending]bool{}
	switch {
	case stop == nil && iDrain < 0:
		ok[faultkit.EndSuccess] = true
		return ok, "no fault stopped the run"
	case stop == nil:
		ok[faultkit.EndDrained] = true
		return ok, "it was drained and nothing stopped it"
	case iDrain < 0 || iStop < iDrain:
		ok[faultkit.EndFailure] = true
		if stop.kind == evCancel {
			// Cancelled when all the work was done: nothing noticed.
			// Then nothing may be abandoned, which the counts check.
			ok[faultkit.EndSuccess] = true
			if iDrain >= 0 {
				// The signal came after the cancellation, but the
				// library's watcher may find both ready at once (it was
				// not scheduled in between) and take the signal: a drain
				// cut short at once, reported as a hard stop, which is
				// what happened to the items (seed 722700937271).
				ok[faultkit.EndHardStop] = true
			}
		}
		if stop.kind == evFatal && hard != nil {
			// The failure is recorded here when it happens, but the library
			// learns of it only when the failing goroutine returns (after
			// capturing a panic's stack, say): a drain and a hard stop that
			// come in between race with it (seed 547219526255).
			ok[faultkit.EndHardStop] = true
		}
		return ok, "the first fault was a " + evNames[stop.kind] + ", before any signal"
	}
	switch stop.kind {
	case evHard:
		ok[faultkit.EndHardStop] = true
		if fatal != nil {
			ok[faultkit.EndFailure] = true
		}
	case evFatal:
		ok[faultkit.EndFailure] = true
		if hard != nil {
			ok[faultkit.EndHardStop] = true
		}
	case evCancel:
		// Drained, then cancelled: the signal came first, so 130; but a
		// cancellation abandons the items in flight, and then the run was
		// not drained (the counts check that a drained run abandoned
		// nothing): it was stopped hard.
		ok[faultkit.EndDrained], ok[faultkit.EndHardStop] = true, true
		if fatal != nil {
			ok[faultkit.EndFailure] = true
		}
	}
	return ok, "it was drained, then a " + evNames[stop.kind] + " came"
}

// check checks every invariant of the run against its ExitStatus.
func (r *runState) check(st pipeline.ExitStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := func(format string, args ...any) { r.violateLocked(fmt.Sprintf(format, args...)) }

	got := faultkit.EndingOf(st)
	allowed, why := r.allowedEndings()
	if !allowed[got] {
		var want []string
		for e := range faultkit.EndOther {
			if allowed[e] {
				want = append(want, e.String())
			}
		}
		v("exit: the run ended %s (code %d), want %s: %s", got.String(), st.Code, strings.Join(want, " or "), why)
	}
	if !strings.HasPrefix(st.String(), fmt.Sprintf("Finished with code %d in ", st.Code)) {
		v("String() reads %q", st.String())
	}
	switch got {
	case faultkit.EndSuccess:
		if st.Err != nil || st.Message != "Success" {
			v("exit: code 0 with Err %v and message %q", st.Err, st.Message)
		}
	case faultkit.EndFailure:
		r.checkFailure(st, v)
	case faultkit.EndDrained, faultkit.EndHardStop:
		var se *pipeline.SignalError
		errors.As(st.Err, &se)
		if se.Signal != syscall.SIGINT {
			v("exit: the SignalError names %v, but the first signal was SIGINT", se.Signal)
		}
		if word := map[bool]string{false: "drained", true: "Stopped hard"}[se.Hard]; !strings.Contains(st.Message, word) {
			v("exit: the message %q does not say %q", st.Message, word)
		}
	}

	r.checkCounts(st, got, v)
	if len(r.exits) != 1 || r.exits[0].Code != st.Code || r.exits[0].Counts != st.Counts || r.exits[0].Message != st.Message {
		v("OnExit: called %d times, want once with the ExitStatus Run returned", len(r.exits))
	}
	if r.inits.Load() != r.closes.Load() {
		v("PerWorker: %d handlers built, %d closed", r.inits.Load(), r.closes.Load())
	}
}

// checkFailure checks that a failed run reports one of the faults that
// could have failed it: its error, stage and item, and a panic's stack.
func (r *runState) checkFailure(st pipeline.ExitStatus, v func(string, ...any)) {
	if errors.Is(st.Err, context.Canceled) {
		if !slices.ContainsFunc(r.events, func(e event) bool { return e.kind == evCancel }) {
			v("exit: the run failed with context.Canceled, but the test did not cancel it: %q", st.Message)
		}
		if !strings.HasPrefix(st.Message, "Cancelled") {
			v("exit: a cancelled run's message is %q, want it to start with \"Cancelled\"", st.Message)
		}
		return
	}
	var pe *stage.PanicError
	isPanic := errors.As(st.Err, &pe)
	for _, e := range r.events {
		if e.kind != evFatal {
			continue
		}
		if !(e.err != nil && errors.Is(st.Err, e.err)) && !(e.panic != nil && isPanic && pe.Value == e.panic) {
			continue
		}
		if st.Stage != e.stage && !strings.HasSuffix(st.Stage, "/"+e.stage) {
			v("exit: the failure (%s) is reported in stage %q, want %q", e.what, st.Stage, e.stage)
		}
		if e.label != "" && st.Target != e.label {
			v("exit: the failure (%s) is reported for item %q, want %q", e.what, st.Target, e.label)
		}
		var se *stage.Error
		if !errors.As(st.Err, &se) {
			v("exit: the failure (%s) is a %T, not a *stage.Error", e.what, st.Err)
		}
		if e.node {
			r.tr.sureFailed = map[uint64]bool{e.uid: true}
		}
		if e.panic != nil {
			if len(pe.Stack) == 0 || !strings.Contains(string(pe.Stack), "injectPanic") {
				v("exit: the panic's stack does not name the panicking function:\n%s", pe.Stack)
			}
			if !strings.Contains(st.Message, "panic: ") {
				v("exit: the message of a panic does not say so: %q", st.Message)
			}
		}
		return
	}
	v("exit: the run failed with %q (stage %q, item %q), which is none of the fatal faults injected", st.Message, st.Stage, st.Target)
}

// checkCounts compares ExitStatus.Counts with the suite's own lineage, and
// the sink's items with the model's.
func (r *runState) checkCounts(st pipeline.ExitStatus, got faultkit.Ending, v func(string, ...any)) {
	c := st.Counts
	src := r.s.src
	if sum := c.Done + c.Dropped + c.Skipped + c.DeadLettered + c.Failed + c.Abandoned; sum != c.In || c.Abandoned < 0 {
		v("counts: In %d != Done+Dropped+Skipped+DeadLettered+Failed+Abandoned %d (%+v)", c.In, sum, c)
	}
	if (got == faultkit.EndSuccess || got == faultkit.EndDrained) && c.Abandoned != 0 {
		v("counts: %d items abandoned, but the run ended %s (%+v)", c.Abandoned, got.String(), c)
	}
	if c.In < 0 || c.In > int64(src.n) {
		v("counts: In is %d, but the source has %d items", c.In, src.n)
		return
	}
	if got == faultkit.EndSuccess && c.In != int64(src.n) {
		v("counts: the run succeeded, but the source emitted %d of its %d items", c.In, src.n)
	}
	if src.kind == srcFunc || src.kind == srcSeq2 || src.kind == srcSeq {
		if y, t := r.yieldCalls.Load(), r.yieldTrue.Load(); c.In < t || c.In > y {
			v("counts: In is %d, but %d yields were made and %d of them returned true", c.In, y, t)
		}
		for _, e := range r.events {
			if e.kind == evCancel && c.In > e.yields {
				v("counts: the source emitted %d items, but only %d yields had started when ctx was cancelled", c.In, e.yields)
			}
		}
	}
	for uid, n := range r.tr.nodes {
		if n.src && n.seen && uid >= uint64(c.In) {
			v("source item %d reached %s, but the run counts only %d items emitted", uid, n.where, c.In)
		}
	}
	var retries int64
	for _, calls := range r.attempts {
		retries += int64(calls - 1)
	}
	if c.Retried != retries {
		v("counts: Retried is %d, but the test's handlers saw %d calls beyond the first", c.Retried, retries)
	}

	// Each source item's outcome, as the lineage says; where a race left
	// it open, the counts must lie between the sure and the possible.
	resolve := got == faultkit.EndSuccess || !r.stopped()
	var lo, hi [nOutcomes]int64
	for _, s := range r.tr.sourceOutcomes(int(c.In), resolve) {
		if o, ok := s.only(); ok {
			lo[o]++
		}
		for o := range nOutcomes {
			if s.has(o) {
				hi[o]++
			}
		}
	}
	lib := [nOutcomes]int64{c.Dropped, c.Done, c.Skipped, c.DeadLettered, c.Failed, c.Abandoned}
	for o := range nOutcomes {
		if lib[o] < lo[o] || lib[o] > hi[o] {
			if lo[o] == hi[o] {
				v("counts: %s is %d, the test saw %d (%+v)", outcomeNames[o], lib[o], lo[o], c)
			} else {
				v("counts: %s is %d, the test saw between %d and %d (%+v)", outcomeNames[o], lib[o], lo[o], hi[o], c)
			}
		}
	}

	how := r.s.outputCheck()
	if how != outUnchecked && (got == faultkit.EndSuccess || (got == faultkit.EndDrained && !r.stopped())) {
		r.outputChecked = true
		want, ok := r.s.model(int(c.In))
		if !ok {
			v("output: the model says a fault fails this run, but it ended %s", got.String())
		} else if d := compareOutputs(r.tr.sunk, want, how); d != "" {
			v("output: %s", d)
		}
	}
}

// compareOutputs compares what the sink accepted with the model's, as
// exactly as how allows; it returns "" when they agree.
func compareOutputs(got, want []item, how outputCheck) string {
	switch how {
	case outUnchecked:
		return ""
	case outSequence:
		for i := range min(len(got), len(want)) {
			if !sameItem(got[i], want[i]) {
				return fmt.Sprintf("item %d of the sink is %v, want %v (of %d, want %d)", i, got[i], want[i], len(got), len(want))
			}
		}
		if len(got) != len(want) {
			return fmt.Sprintf("the sink accepted %d items, want %d", len(got), len(want))
		}
	case outItems:
		g, w := slices.Clone(got), slices.Clone(want)
		byUID := func(a, b item) int { return cmp.Compare(a.uid, b.uid) }
		slices.SortFunc(g, byUID)
		slices.SortFunc(w, byUID)
		if !slices.EqualFunc(g, w, sameItem) {
			return fmt.Sprintf("the sink accepted %d items, want %d: not the same multiset; first difference %s",
				len(g), len(w), firstDiff(g, w, sameItem))
		}
	case outAtoms:
		g, w := atomsOf(got), atomsOf(want)
		if !slices.Equal(g, w) {
			return fmt.Sprintf("the sink's items carry %d values, want %d: not the same multiset; first difference %s",
				len(g), len(w), firstDiff(g, w, func(a, b atom) bool { return a == b }))
		}
	}
	return ""
}

func sameItem(a, b item) bool { return a.uid == b.uid && slices.Equal(a.atoms, b.atoms) }

func atomsOf(items []item) []atom {
	var as []atom
	for _, it := range items {
		as = append(as, it.atoms...)
	}
	slices.SortFunc(as, func(a, b atom) int {
		return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.v, b.v))
	})
	return as
}

func firstDiff[T any](got, want []T, eq func(a, b T) bool) string {
	for i := range min(len(got), len(want)) {
		if !eq(got[i], want[i]) {
			return fmt.Sprintf("at %d: %v, want %v", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("at %d (one is a prefix of the other)", min(len(got), len(want)))
}
