package flow

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// Budget is a run's failure budget: limits on the source items that fail
// under an error policy, that is that settle Skipped, DeadLettered or
// Failed. The zero Budget has no limit.
//
// Only failures are counted as they happen, under a lock taken on the
// failure path alone; the items done are read from the run's counters,
// which the tallies of done items keep (see Tally).
type Budget struct {
	Limits []Limit
	// Default says that the limits are the default budget's, which errors
	// say, so that the user knows where they came from.
	Default bool
}

// LimitKind is what a Limit bounds.
type LimitKind uint8

const (
	LimitFailures LimitKind = iota // the failed items of the run
	LimitRate                      // the share of the items that failed
	LimitInARow                    // the failed items in a row
)

// Limit is one limit of a Budget: it is exceeded when more than N items
// failed (LimitFailures) or failed in a row (LimitInARow), or when, once at
// least N items have settled done or failed, more than Rate of them failed
// (LimitRate).
type Limit struct {
	Kind LimitKind
	N    int64
	Rate float64
}

// String reads as the pipeline option that sets the limit.
func (l Limit) String() string {
	switch l.Kind {
	case LimitRate:
		return fmt.Sprintf("MaxFailureRate(%s, %d)", strconv.FormatFloat(l.Rate, 'g', -1, 64), l.N)
	case LimitInARow:
		return fmt.Sprintf("MaxFailuresInARow(%d)", l.N)
	default:
		return fmt.Sprintf("MaxFailures(%d)", l.N)
	}
}

// BudgetError is the error of a run stopped by its failure budget.
type BudgetError struct {
	// Limit is the limit exceeded, as the option that sets it reads:
	// "MaxFailureRate(0.99, 100)".
	Limit string
	// Default is true when the limit is one of the default budget's.
	Default bool
	// Failed counts the source items that had failed (skipped,
	// dead-lettered or failed) when the limit was exceeded, InARow those
	// of them that failed in a row, and Items the source items settled
	// done or failed then, as the run had counted them, or for a rate the
	// items read and not dropped, if more (see pipeline.FailureBudget).
	Failed, InARow, Items int64
	// Last is the error of the item whose failure exceeded the limit: a
	// *Error naming its stage and label.
	Last error
	kind LimitKind
}

func (e *BudgetError) Error() string {
	var what string
	switch {
	case e.kind == LimitInARow:
		what = Thousands(e.InARow) + " items failed in a row"
	case e.kind == LimitFailures:
		what = Thousands(e.Failed) + " items failed"
	case e.Failed == e.Items:
		what = fmt.Sprintf("%s of the first %s items failed", Thousands(e.Failed), Thousands(e.Items))
	default:
		what = fmt.Sprintf("%s of %s items failed", Thousands(e.Failed), Thousands(e.Items))
	}
	limit := "limit "
	if e.Default {
		limit = "default limit "
	}
	return fmt.Sprintf("failure budget exceeded: %s (%s%s); last: %v", what, limit, e.Limit, e.Last)
}

// Unwrap returns the last item's error, so that errors.As finds its
// *Error and errors.Is the cause.
func (e *BudgetError) Unwrap() error { return e.Last }

// StageLosses counts the source items that failed in one stage, by how
// they settled.
type StageLosses struct {
	Index                         int
	Stage                         string
	Skipped, DeadLettered, Failed int64
}

// losses is what a run keeps of its failed source items: how many, in
// which stages, and its budget's state. An item that is done touches
// nothing here but inARow, which the tallies of done items and of the
// source's items read once per run of items they count.
type losses struct {
	mu      sync.Mutex
	failed  int64
	byStage []StageLosses
	err     *BudgetError

	// inARow counts the items failed since the last item done, when the
	// run has a budget: a failure adds to it, and the next item done (a
	// tally of done items that finds it non-zero) zeroes it. While it is
	// not zero, the tallies of done items and of the source's items count
	// every item at once, so that a failure finds the counts current.
	inARow atomic.Int64
	// doneTallies counts the tallies of done items, for the items they may
	// not have counted yet (see rateItems).
	doneTallies int
	// abort stops the run, with the cause its Execute returns.
	abort context.CancelCauseFunc
}

// inARowOf is the counter of failures in a row that a tally of outcome o
// (or of the source's items, for o < 0) reads: the run's for done items and
// the source's, and for the others a counter that stays 0.
func (r *Run) inARowOf(o Outcome) *atomic.Int64 {
	switch {
	case o == Done:
		r.losses.doneTallies++
	case o >= 0:
		return &neverInARow
	}
	return &r.losses.inARow
}

// neverInARow is read by the tallies that do not serve the budget; nothing
// writes it.
var neverInARow atomic.Int64

// doneResets zeroes the failures in a row: an item was done.
func (l *losses) doneResets() {
	if l.inARow.Load() != 0 {
		l.inARow.Store(0)
	}
}

// lose records n source items that settled with the failure outcome o, in
// the stage e names, and checks the run's budget. It returns the
// BudgetError once the budget is exceeded (and stops the run then); only
// Skipped and DeadLettered items exceed it, since a Failed item stops the
// run anyway.
func (r *Run) lose(n int64, o Outcome, e *Error) *BudgetError {
	l := &r.losses
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed += n
	l.add(n, o, e)
	if l.err != nil || o == Failed || len(r.Budget.Limits) == 0 {
		return l.err
	}
	inARow := l.inARow.Add(n)
	done := r.Counts.Done.Load()
	for _, lim := range r.Budget.Limits {
		items, over := l.failed+done, false
		switch lim.Kind {
		case LimitFailures:
			over = l.failed > lim.N
		case LimitInARow:
			over = inARow > lim.N
		case LimitRate:
			var most int64
			items, most = r.rateItems(done)
			over = l.failed+done >= lim.N && float64(l.failed) > lim.Rate*float64(most)
		}
		if over {
			l.err = &BudgetError{Limit: lim.String(), Default: r.Budget.Default, kind: lim.Kind,
				Failed: l.failed, InARow: inARow, Items: items, Last: e}
			if l.abort != nil {
				l.abort(l.err)
			}
			break
		}
	}
	return l.err
}

// rateItems returns the items a rate is checked against, done of them
// counted done: the source items settled done or failed, and most, what
// they may be at most. The tallies count items in runs, up to
// tallyEvery-1 of which are not counted yet per tally (except while
// failures in a row go on, when they count at once, and before a tally of
// done items counted any); and items still on their way to the sink (in
// a batch, in a buffer) may yet be done: most counts those too, as the
// items the source emitted that no Filter dropped nor a source took back.
// A rate checked against most is never exceeded before it truly is, and a
// failure that settles before the items done ahead of it does not make it
// look higher.
func (r *Run) rateItems(done int64) (items, most int64) {
	items = done + r.losses.failed
	most = items
	if done > 0 {
		most += (r.tallyEvery() - 1) * int64(r.losses.doneTallies)
	}
	read := r.Counts.In.Load() - r.Counts.Dropped.Load() - r.Counts.Requeued.Load()
	return max(items, read), max(most, read)
}

// add counts n items failed with outcome o in the stage of e.
func (l *losses) add(n int64, o Outcome, e *Error) {
	idx, name := -1, "?"
	if e != nil {
		idx, name = e.Index, e.Stage
	}
	i := slices.IndexFunc(l.byStage, func(s StageLosses) bool { return s.Index == idx && s.Stage == name })
	if i < 0 {
		l.byStage = append(l.byStage, StageLosses{Index: idx, Stage: name})
		i = len(l.byStage) - 1
	}
	s := &l.byStage[i]
	switch o {
	case Skipped:
		s.Skipped += n
	case DeadLettered:
		s.DeadLettered += n
	default:
		s.Failed += n
	}
}

// Losses returns the source items that failed, stage by stage in chain
// order.
func (r *Run) Losses() []StageLosses {
	r.losses.mu.Lock()
	defer r.losses.mu.Unlock()
	out := slices.Clone(r.losses.byStage)
	slices.SortFunc(out, func(a, b StageLosses) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Stage, b.Stage))
	})
	return out
}

// Exceeded returns the error of the budget exceeded, or nil.
func (r *Run) Exceeded() *BudgetError {
	r.losses.mu.Lock()
	defer r.losses.mu.Unlock()
	return r.losses.err
}

// Thousands formats n with a comma between groups of three digits:
// 200,000.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}
