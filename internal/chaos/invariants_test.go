package chaos_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/stage"
)

// stopped reports whether a stop (a fatal failure, a cancellation, a hard
// stop, or the failure budget) was recorded: then items may be abandoned.
func (r *runState) stopped() bool {
	for _, e := range r.events {
		if e.kind != evDrain && e.kind != evBudget {
			return true
		}
	}
	return r.budgetStopped
}

// allowedEndings says how the run may end, given the run-level events. An
// evBudget event says that the budget may stop the run from then on, like
// a fatal failure, or not (the suite counts the items that may have
// failed): either is allowed.
func (r *runState) allowedEndings() (map[faultkit.Ending]bool, string) {
	i := slices.IndexFunc(r.events, func(e event) bool { return e.kind == evBudget })
	without := slices.DeleteFunc(slices.Clone(r.events), func(e event) bool { return e.kind == evBudget })
	ok, why := endingsOf(without)
	if i < 0 {
		return ok, why
	}
	with := slices.Clone(r.events[:i+1])
	with[i].kind = evFatal
	with = append(with, without[i:]...)
	ok2, why2 := endingsOf(with)
	for e := range ok2 {
		ok[e] = true
	}
	return ok, why + "; or " + why2
}

// endingsOf says how the run may end, given the run-level events in the
// order they happened. The fault that stops the run first decides: a
// fatal failure or a cancellation gives 1, a drain 130, a hard stop 130
// Hard. A signal after a stop changes nothing: the run was already
// stopping. A failure during a drain fails the run (1): the drain did not
// finish, and "drained" would claim that it did; a cancellation during a
// drain keeps the signal's 130, but must not claim a drain either if it
// abandoned items. Where two faults race (a failure and a hard stop, each
// cancelling the run) either may win.
func endingsOf(events []event) (map[faultkit.Ending]bool, string) {
	first := func(match func(evKind) bool) (int, *event) {
		for i := range events {
			if match(events[i].kind) {
				return i, &events[i]
			}
		}
		return -1, nil
	}
	is := func(k evKind) func(evKind) bool { return func(x evKind) bool { return x == k } }
	iStop, stop := first(func(k evKind) bool { return k != evDrain })
	iDrain, _ := first(is(evDrain))
	_, fatal := first(is(evFatal))
	_, hard := first(is(evHard))
	_, cancel := first(is(evCancel))

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
		if hard != nil || cancel != nil {
			// The library learns of the failure when the failing call
			// returns: a hard stop, or a cancellation (which cuts the
			// drain short, a hard stop too), that comes in between wins
			// (seed 580063728571).
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
	var over *pipeline.BudgetError
	r.budgetStopped = errors.As(st.Err, &over)
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
		if st.Err != nil {
			v("exit: code 0 with Err %v", st.Err)
		}
		r.checkMessage(st, v)
	case faultkit.EndFailure:
		if over != nil {
			r.checkBudget(st, over, v)
		} else {
			r.checkFailure(st, v)
		}
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
	r.checkBudgetKept(st, got, v)
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

// checkBudget checks a run the failure budget stopped: the limit is the
// budget's, the error's numbers exceed it and are no more than the
// counts, and it names an item that failed under a policy.
func (r *runState) checkBudget(st pipeline.ExitStatus, over *pipeline.BudgetError, v func(string, ...any)) {
	b, c := r.s.budget, st.Counts
	failed := c.Skipped + c.DeadLettered + c.Failed
	switch {
	case b.kind == bMax:
		if want := fmt.Sprintf("MaxFailures(%d)", b.max); over.Limit != want || over.Default {
			v("exit: the budget error names limit %q (default %v), want %q", over.Limit, over.Default, want)
		}
		if over.Failed <= int64(b.max) {
			v("exit: the budget error counts %d failed items, want more than %d", over.Failed, b.max)
		}
	case b.kind == bDefault && over.Limit == "MaxFailureRate(0.99, 100)" && over.Default:
		if over.Failed < 100 || over.Items < 100 || float64(over.Failed) <= 0.99*float64(over.Items) {
			v("exit: the default rate stopped the run at %d failed items of %d", over.Failed, over.Items)
		}
	default:
		v("exit: the failure budget (%v) stopped the run: %q", b, st.Message)
		return
	}
	if over.Failed > failed {
		v("exit: the budget error counts %d failed items, more than the %d counted", over.Failed, failed)
	}
	limit := "limit "
	if over.Default {
		limit = "default limit "
	}
	if !strings.HasPrefix(st.Message, "failure budget exceeded: ") || !strings.Contains(st.Message, " items failed ("+limit+over.Limit+"); last: ") {
		v("exit: the budget error reads %q", st.Message)
	}
	var se *stage.Error
	var pe *stage.PanicError
	switch {
	case !errors.As(st.Err, &se) || se.Stage != st.Stage || se.Label != st.Target:
		v("exit: the budget error's last error is %v, not the *stage.Error of stage %q, item %q", over.Last, st.Stage, st.Target)
	case !errors.Is(st.Err, errInjected) && !(errors.As(st.Err, &pe) && isInjectedPanic(pe)):
		v("exit: the budget error's last error is not one the suite injected: %v", over.Last)
	case !r.failedIn(st.Stage, pSkip) && !r.failedIn(st.Stage, pDeadLetter):
		v("exit: the budget error names stage %q, where no item was skipped or dead-lettered", st.Stage)
	}
}

// checkMessage checks the message of a run that ended with code 0:
// "Success" when no item failed, else what failed, by outcome and stage,
// adding up to the counts.
func (r *runState) checkMessage(st pipeline.ExitStatus, v func(string, ...any)) {
	c := st.Counts
	if c.Skipped+c.DeadLettered+c.Failed == 0 {
		if st.Message != "Success" {
			v("exit: no item failed, yet the message is %q", st.Message)
		}
		return
	}
	rest, ok := strings.CutPrefix(st.Message, "Finished with ")
	if !ok {
		v("exit: %d items failed under a policy, yet the message is %q", c.Skipped+c.DeadLettered+c.Failed, st.Message)
		return
	}
	first := true
	for _, o := range []struct {
		name string
		n    int64
		mode policyMode
	}{{"skipped", c.Skipped, pSkip}, {"dead-lettered", c.DeadLettered, pDeadLetter}, {"failed", c.Failed, pFailFast}} {
		if o.n == 0 {
			continue
		}
		head := flow.Thousands(o.n) + " " + o.name + " ("
		if first {
			head = fmt.Sprintf("%s of %s items %s (", flow.Thousands(o.n), flow.Thousands(c.In), o.name)
		}
		first = false
		_, after, ok := strings.Cut(rest, head)
		list, _, closed := strings.Cut(after, ")")
		if !ok || !closed {
			v("exit: the message %q does not say %q...)", st.Message, head)
			continue
		}
		sum := int64(0)
		for _, part := range strings.Split(list, ", ") {
			var idx int
			var name, count string
			if _, err := fmt.Sscanf(part, "stage %d %q: %s", &idx, &name, &count); err != nil {
				v("exit: the message %q lists %q, not `stage N \"name\": count`", st.Message, part)
				continue
			}
			k, err := strconv.ParseInt(strings.ReplaceAll(count, ",", ""), 10, 64)
			if err != nil {
				v("exit: the message %q counts %q", st.Message, count)
			}
			sum += k
			if !r.failedIn(name, o.mode) {
				v("exit: the message %q names stage %q for %s items, where the suite saw none %s", st.Message, name, o.name, o.name)
			}
		}
		if sum != o.n {
			v("exit: the message %q lists %d %s items by stage, the counts %d", st.Message, sum, o.name, o.n)
		}
	}
}

// failedIn reports whether the suite saw an item fail its last call in the
// stage the library names name (a Chain's member is "chain/member") under
// policy mode: pFailFast stands for a dead-letter function that failed.
func (r *runState) failedIn(name string, mode policyMode) bool {
	for _, n := range r.tr.nodes {
		if n.end != endError || (name != n.where && !strings.HasSuffix(name, "/"+n.where)) {
			continue
		}
		switch {
		case mode == pFailFast && n.mode == pDeadLetter && n.dl == 2, n.mode == mode:
			return true
		}
	}
	return false
}

// checkBudgetKept checks that a run with a MaxFailures budget that ended
// without a stop (code 0, or drained) did not exceed it: every item
// skipped or dead-lettered was counted at once, and an item counted past
// the budget stops the run.
func (r *runState) checkBudgetKept(st pipeline.ExitStatus, got faultkit.Ending, v func(string, ...any)) {
	b, c := r.s.budget, st.Counts
	if b.kind != bMax || r.stopped() || (got != faultkit.EndSuccess && got != faultkit.EndDrained) {
		return
	}
	if failed := c.Skipped + c.DeadLettered + c.Failed; failed > int64(b.max) {
		v("budget: %d items failed, more than MaxFailures(%d), yet the run ended %s", failed, b.max, got.String())
	}
}
