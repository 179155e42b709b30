package flow

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 200_000: "200,000",
		1_234_567: "1,234,567", -1000: "-1,000", -12: "-12"} {
		assert.Equal(t, want, Thousands(n))
	}
}

// A tally of done items counts its first item at once, and the first after
// a failure, which ends the failures in a row; otherwise it counts 64 at a
// time, as every tally does.
func TestADoneTallyCountsTheItemsTheBudgetNeedsAtOnce(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	run.Budget = Budget{Limits: []Limit{{Kind: LimitInARow, N: 10}}}
	done := run.Tally(Done)
	done.Add(1)
	assert.Equal(t, int64(1), run.Counts.Done.Load(), "the first at once")
	done.Add(5)
	assert.Equal(t, int64(1), run.Counts.Done.Load(), "then in runs")

	e := &Error{Stage: "parse", Index: 1, Label: "#6", Err: errors.New("bad")}
	assert.Nil(t, run.lose(2, Skipped, e))
	assert.Equal(t, int64(2), run.losses.inARow.Load())
	done.Add(0)
	assert.Equal(t, int64(2), run.losses.inARow.Load(), "no item done, no end to the failures in a row")
	done.Add(1)
	assert.Equal(t, int64(7), run.Counts.Done.Load(), "an item done after a failure is counted at once, with those before it")
	assert.Zero(t, run.losses.inARow.Load())
	done.Add(1)
	assert.Equal(t, int64(7), run.Counts.Done.Load())

	dropped := run.Tally(Dropped)
	assert.Nil(t, run.lose(1, Skipped, e))
	dropped.Add(1)
	assert.Equal(t, int64(1), run.losses.inARow.Load(), "a drop does not end failures in a row")
	assert.Zero(t, run.Counts.Dropped.Load())
}

func TestLoseExceedsEachLimitPastItsNumber(t *testing.T) {
	e := &Error{Stage: "insert", Index: 3, Label: "orders.csv:100", Err: errors.New("no such table: orders")}
	for _, c := range []struct {
		name  string
		limit Limit
		done  int64 // items done first
		fails int   // failures that stay within the limit
		want  string
	}{
		{"count", Limit{Kind: LimitFailures, N: 3}, 10, 3, "failure budget exceeded: 4 items failed (limit MaxFailures(3)); last: "},
		{"in a row", Limit{Kind: LimitInARow, N: 5}, 10, 5, "failure budget exceeded: 6 items failed in a row (limit MaxFailuresInARow(5)); last: "},
		{"rate, all failed", Limit{Kind: LimitRate, Rate: 0.5, N: 4}, 0, 3, "failure budget exceeded: 4 of the first 4 items failed (limit MaxFailureRate(0.5, 4)); last: "},
		{"rate, with the items the sink may not have counted", Limit{Kind: LimitRate, Rate: 0.5, N: 4}, 1, 64,
			"failure budget exceeded: 65 of 66 items failed (limit MaxFailureRate(0.5, 4)); last: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := NewRun(zap.NewNop(), FailFast())
			run.Budget = Budget{Limits: []Limit{c.limit}}
			run.Tally(Done) // one sink
			run.Counts.Done.Store(c.done)
			var cause error
			run.losses.abort = func(err error) { cause = err }
			for i := range c.fails {
				require.Nil(t, run.lose(1, DeadLettered, e), "failure %d", i+1)
			}
			over := run.lose(1, DeadLettered, e)
			require.NotNil(t, over)
			assert.Equal(t, c.want+`stage 3 "insert", item "orders.csv:100": no such table: orders`, over.Error())
			assert.Same(t, error(over), cause, "the run is stopped with it")
			assert.Same(t, over, run.lose(1, Skipped, e), "and stays exceeded")
			assert.Same(t, over, run.Exceeded())
			assert.Equal(t, []StageLosses{{Index: 3, Stage: "insert", DeadLettered: int64(c.fails + 1), Skipped: 1}}, run.Losses())
		})
	}
}

// A failed item stops the run anyway: it is counted, and never exceeds the
// budget, so the run's error stays its own.
func TestAFailedItemIsCountedButExceedsNoBudget(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	run.Budget = Budget{Limits: []Limit{{Kind: LimitFailures, N: 0}}}
	assert.Nil(t, run.lose(1, Failed, nil))
	assert.Equal(t, []StageLosses{{Index: -1, Stage: "?", Failed: 1}}, run.Losses())
	assert.NotNil(t, run.lose(1, Skipped, nil), "it still counts toward the next")
}

// Execute returns the budget's error, whatever the goroutines returned as
// the budget stopped them.
func TestExecuteReturnsTheBudgetError(t *testing.T) {
	run := NewRun(zap.NewNop(), Skip())
	run.Budget = Budget{Limits: []Limit{{Kind: LimitFailures, N: 0}}}
	sc := run.Scope(1, "insert")
	sc.Go(func(ctx context.Context) error {
		run.settle(One(), Skipped, 0, &Error{Stage: "insert", Index: 1, Label: "#0", Err: errors.New("bad")})
		<-ctx.Done()
		return ctx.Err()
	})
	err := run.Execute(context.Background())
	var over *BudgetError
	require.ErrorAs(t, err, &over)
	assert.Equal(t, "MaxFailures(0)", over.Limit)
	assert.NotErrorIs(t, err, context.Canceled)
}

// Items read from the source that no Filter dropped may yet be done: a
// rate counts them, so that failures that settle before the items done
// ahead of them (held in a batch, say) do not exceed it.
func TestARateCountsTheItemsOnTheirWay(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	run.Budget = Budget{Limits: []Limit{{Kind: LimitRate, Rate: 0.99, N: 100}}}
	run.Counts.In.Store(600)
	for range 120 {
		require.Nil(t, run.lose(1, Skipped, nil), "120 failed of 600 read")
	}
	run.Counts.Dropped.Store(479) // the rest were dropped: 121 items
	over := run.lose(1, Skipped, nil)
	require.NotNil(t, over)
	assert.Equal(t, int64(121), over.Items)
	assert.Contains(t, over.Error(), "121 of the first 121 items failed")
}

// While failures in a row go on, the source's tally counts each item at
// once, so that a rate finds the items read current.
func TestTheSourcesTallyCountsAtOnceAfterAFailure(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	run.Budget = Budget{Limits: []Limit{{Kind: LimitFailures, N: 10}}}
	in, done := run.TallyIn(), run.Tally(Done)
	in.Add(1)
	assert.Zero(t, run.Counts.In.Load(), "in runs")
	require.Nil(t, run.lose(1, Skipped, nil))
	in.Add(1)
	assert.Equal(t, int64(2), run.Counts.In.Load())
	in.Add(1)
	assert.Equal(t, int64(3), run.Counts.In.Load())
	assert.Equal(t, int64(1), run.losses.inARow.Load(), "the source's items end no failures in a row")
	done.Add(1)
	assert.Zero(t, run.losses.inARow.Load())
	in.Add(1)
	assert.Equal(t, int64(3), run.Counts.In.Load(), "in runs again")
}
