package pipeline

import (
	"fmt"
	"math"
	"strings"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// BudgetError is ExitStatus.Err for a run its failure budget stopped (see
// FailureBudget): Limit names the limit exceeded as its option reads
// ("MaxFailureRate(0.99, 100)"), Default says it is the default budget's,
// Failed, InARow and Items are the counts that exceeded it, and Last is
// the error of the item whose failure did, a *stage.Error. errors.As
// finds that *stage.Error through it, and errors.Is its cause; Stage and
// Target of the ExitStatus name that item. Its message reads:
//
//	failure budget exceeded: 500 of the first 500 items failed (default limit MaxFailureRate(0.99, 100)); last: stage 4 "sql-insert", item #0: insert into orders: batch of 500 items (orders.csv:2 ... orders.csv:501) rolled back: SQL logic error: no such table: orders (1)
type BudgetError = flow.BudgetError

// BudgetLimit is a limit of a failure budget, made by MaxFailures,
// MaxFailureRate and MaxFailuresInARow for FailureBudget.
type BudgetLimit interface{ limit(*budgetConfig) }

type limitFunc func(*budgetConfig)

func (f limitFunc) limit(c *budgetConfig) { f(c) }

type budgetConfig struct {
	limits []flow.Limit
	errs   []string
}

// The default budget's limits, which FailureBudget documents.
const (
	defaultMaxFailureRate    = 0.99
	defaultFailureRateAfter  = 100
	defaultMaxFailuresInARow = 1000
)

// defaultBudget is the budget of a run that sets none.
func defaultBudget() flow.Budget {
	return flow.Budget{Default: true, Limits: []flow.Limit{
		{Kind: flow.LimitRate, Rate: defaultMaxFailureRate, N: defaultFailureRateAfter},
		{Kind: flow.LimitInARow, N: defaultMaxFailuresInARow},
	}}
}

// FailureBudget sets the run's failure budget to limits, in place of the
// default budget: the run fails, with code 1 and a *BudgetError, as soon
// as one of them is exceeded, and otherwise goes on, its ExitStatus
// message counting what failed. Without a budget, a pipeline-wide Skip or
// DeadLetter policy would let a run whose every item fails (a table that
// does not exist, a wrong password) end with code 0.
//
// The default budget, for a run that sets none, is
// MaxFailureRate(0.99, 100) and MaxFailuresInARow(1000): a run stops when
// more than 99% of its items failed once at least 100 have settled (so at
// the 100th item when the first 100 all failed), or when more than 1,000
// items failed in a row.
//
// The budget counts source items, as Counts does. An item failed when it
// settled Skipped or DeadLettered under an error policy, or Failed (a
// batch counts for all its members, a FlatMap parent once all its
// children have settled, an item retried once, at its last attempt). The
// items of a rate are the source items settled done or failed: a Filter's
// drops are neither, nor are items requeued to a source that delivers
// them again.
//
// Items count in the order they settle, which is not quite the source's:
// a failure settles where its stage fails it, an item done when the sink
// has it, so the items done that were still in flight below a failing
// stage (in chunks of up to 64, in an ordered ParMap's window) settle
// after it. Failures in a row are those settled with no item done between
// them, and a rate is stable only over many more items than are in
// flight, hence its minimum. A total failure is counted exactly.
//
// When a limit is exceeded the run stops at once, as under FailFast: the
// source stops, items in flight are abandoned, and ExitStatus.Stage and
// Target name the item whose failure exceeded it. That item stays skipped
// or dead-lettered.
//
// Cost: a failure takes a lock and checks the limits; an item done costs
// what it did before budgets, plus the atomic load of a counter written
// only when an item fails, once per run of items the sink counts (W1-W6
// measured with benchstat, 12 interleaved counts: no significant change,
// W1's Map 4.98 ns an item before, 5.04 after, p=0.67). The
// items done are read from the run's count, which each sink adds to in
// runs of up to 64: a rate is checked as if the up to 63 items per sink
// not counted yet were done (unless none was: the first is counted at
// once), so it is never exceeded early, and may be late by those.
//
// A FailureBudget with no limit, or with a limit out of range, makes the
// pipeline invalid (code 2); WithoutFailureBudget turns the budget off.
func FailureBudget(limits ...BudgetLimit) Option {
	var bc budgetConfig
	for _, l := range limits {
		if l != nil {
			l.limit(&bc)
		}
	}
	switch {
	case len(bc.errs) > 0:
		return invalidOption("FailureBudget: " + strings.Join(bc.errs, "; "))
	case len(bc.limits) == 0:
		return invalidOption("FailureBudget: no limit given; WithoutFailureBudget turns the budget off")
	}
	b := flow.Budget{Limits: bc.limits}
	return optionFunc(func(c *config) { c.budget = b })
}

// WithoutFailureBudget turns the failure budget off: no number of failed
// items stops the run, as before budgets existed. The ExitStatus message
// still counts them.
func WithoutFailureBudget() Option {
	return optionFunc(func(c *config) { c.budget = flow.Budget{} })
}

// MaxFailures allows at most n failed items in the run (n >= 0): the
// (n+1)-th stops it. MaxFailures(0) stops a run at its first skipped or
// dead-lettered item, once the policy has dealt with it.
func MaxFailures(n int) BudgetLimit {
	return limitFunc(func(c *budgetConfig) {
		if n < 0 {
			c.errs = append(c.errs, fmt.Sprintf("MaxFailures(%d): the count must be at least 0", n))
			return
		}
		c.limits = append(c.limits, flow.Limit{Kind: flow.LimitFailures, N: int64(n)})
	})
}

// MaxFailureRate allows at most a share rate (0 <= rate < 1) of the items
// to fail, checked on every failure once at least after items (>= 0) have
// settled done or failed: MaxFailureRate(0.05, 1000) stops a run whose
// failures pass 5% of its items from the 1,000th item on. Before after
// items no rate is too high, so that the first few items do not decide.
func MaxFailureRate(rate float64, after int) BudgetLimit {
	return limitFunc(func(c *budgetConfig) {
		if math.IsNaN(rate) || rate < 0 || rate >= 1 || after < 0 {
			c.errs = append(c.errs, fmt.Sprintf("MaxFailureRate(%v, %d): the rate must be at least 0 and below 1, and the items at least 0", rate, after))
			return
		}
		c.limits = append(c.limits, flow.Limit{Kind: flow.LimitRate, Rate: rate, N: int64(after)})
	})
}

// MaxFailuresInARow allows at most n items (n >= 0) to fail in a row, in
// the order they settle: the (n+1)-th failure since the last item done
// stops the run. It catches a run that starts failing midway, a database
// gone away, long before a rate over the whole run would.
func MaxFailuresInARow(n int) BudgetLimit {
	return limitFunc(func(c *budgetConfig) {
		if n < 0 {
			c.errs = append(c.errs, fmt.Sprintf("MaxFailuresInARow(%d): the count must be at least 0", n))
			return
		}
		c.limits = append(c.limits, flow.Limit{Kind: flow.LimitInARow, N: int64(n)})
	})
}

// invalidOption is an option that makes the pipeline invalid, for reason.
func invalidOption(reason string) Option {
	return optionFunc(func(c *config) { c.errs = append(c.errs, &flow.BuildError{Reason: reason}) })
}
