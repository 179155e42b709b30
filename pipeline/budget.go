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
// more than 99% of its items failed once at least 100 have settled, or
// when more than 1,000 items failed in a row. A total failure thus stops
// at the 100th item when the source hands its items on one by one and
// the failing stage runs in its goroutine (a generator, a file's lines:
// "100 of the first 100 items failed"), a little later when items come in
// runs or cross to a ParMap (a slice's 64: "127 of 128"), and by the
// 1,001st in a row anyway.
//
// The budget counts source items, as Counts does. An item failed when it
// settled Skipped or DeadLettered under an error policy, or Failed (a
// batch counts for all its members, a FlatMap parent once all its
// children have settled, an item retried once, at its last attempt).
// Failures in a row are the failures settled with no item done between
// them. The items of a rate are the source items settled done or failed;
// a Filter's drops are neither, nor are items requeued to a source that
// delivers them again.
//
// Items settle in the order the pipeline finishes them, not quite the
// source's: a failure settles where its stage fails it, an item done when
// the sink has it, so the items done still on their way below a failing
// stage (in a batch, a buffer, a chunk of up to 64, an ordered ParMap's
// window) settle after it. A rate counts them as if they will be done, as
// it counts every item read from the source and not dropped (nor
// requeued) so far: a run whose done items wait in a batch of 500 while
// its 20% of bad rows fail is not taken for a total failure. A rate is
// thus never exceeded early, and may be late by the items on their way;
// failures in a row may take in up to that many items done around where
// they begin.
//
// When a limit is exceeded the run stops at once, as under FailFast: the
// source stops, items in flight are abandoned, and ExitStatus.Stage and
// Target name the item whose failure exceeded it. That item stays skipped
// or dead-lettered.
//
// Cost: a failure takes a lock and checks the limits; an item done costs
// what it did before budgets, plus the atomic load of a counter written
// only when an item fails, once per run of items the sink or the source
// counts (W1-W6 measured with benchstat: no significant change; W1's Map
// 5.14 ns an item before, 5.23 after, p=0.38; see the README). The
// counts of items done and read are kept in runs of up to 64 per sink and
// source; after a failure, and until an item is done, they count each item
// at once, so that the next failure finds them current, and a rate counts
// the items done but not counted yet as done.
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
