package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// budgetError returns the run's *pipeline.BudgetError, failing the test if
// the budget did not stop it.
func budgetError(t *testing.T, st pipeline.ExitStatus) *pipeline.BudgetError {
	t.Helper()
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	var be *pipeline.BudgetError
	require.ErrorAs(t, st.Err, &be, st.Message)
	return be
}

func TestMaxFailures(t *testing.T) {
	every50 := func(v int) bool { return v%50 == 49 } // 20 of 1,000
	for _, workers := range []int{1, 4} {
		for _, ord := range parOrderings {
			name := fmt.Sprintf("%d workers, %s", workers, ord.name)
			opts := append([]stage.Option{stage.Name("parse")}, ord.opts...)
			t.Run(name+": the 11th failure stops a run allowed 10", func(t *testing.T) {
				var produced atomic.Int64
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(counting(100_000, &produced), pipeline.OnError(stage.Skip()),
						pipeline.FailureBudget(pipeline.MaxFailures(10))).
						ParMap(workers, failOn(every50), opts...).Sink(sink.Discard[int]()))
				be := budgetError(t, st)
				assert.Equal(t, "MaxFailures(10)", be.Limit)
				assert.False(t, be.Default)
				assert.Equal(t, int64(11), be.Failed)
				assert.Contains(t, st.Message, "failure budget exceeded: 11 items failed (limit MaxFailures(10)); last: stage 1 \"parse\", item ")
				assert.GreaterOrEqual(t, st.Counts.Skipped, int64(11))
				assert.LessOrEqual(t, st.Counts.Skipped, int64(11+workers))
				assert.Less(t, produced.Load(), int64(50_000), "the run stopped at once")
				balanced(t, st.Counts)
			})
			t.Run(name+": 20 failures within a budget of 20", func(t *testing.T) {
				st := pipeline.New(source.Slice(ints(1000)), pipeline.OnError(stage.Skip()),
					pipeline.FailureBudget(pipeline.MaxFailures(20))).
					ParMap(workers, failOn(every50), opts...).Sink(sink.Discard[int]()).Run(context.Background())
				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, `Finished with 20 of 1,000 items skipped (stage 1 "parse": 20)`, st.Message)
			})
		}
	}
	t.Run("MaxFailures(0) stops at the first item dead-lettered, once dead-lettered", func(t *testing.T) {
		var dead []int
		dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
			dead = append(dead, d.Item.(int))
			return nil
		})
		st := pipeline.New(generator(100), pipeline.OnError(dl), pipeline.FailureBudget(pipeline.MaxFailures(0))).
			Map(failOn(func(v int) bool { return v == 7 }), stage.Name("parse")).
			Sink(sink.Discard[int]()).Run(context.Background())
		be := budgetError(t, st)
		assert.Equal(t, []int{7}, dead)
		assert.Equal(t, pipeline.Counts{In: 8, Done: 7, DeadLettered: 1}, st.Counts)
		assert.Equal(t, "#7", st.Target)
		assert.Equal(t, int64(1), be.Failed)
	})
}

func TestMaxFailureRate(t *testing.T) {
	t.Run("not before the minimum of items", func(t *testing.T) {
		// The first 200 items fail, then none: 20% of the items at the
		// 1,000th, where a minimum of 1,000 starts checking.
		first200 := failOn(func(v int) bool { return v < 200 })
		st := pipeline.New(generator(5000), pipeline.OnError(stage.Skip()),
			pipeline.FailureBudget(pipeline.MaxFailureRate(0.5, 1000))).
			Map(first200, stage.Name("parse")).Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(200), st.Counts.Skipped)

		st = pipeline.New(generator(5000), pipeline.OnError(stage.Skip()),
			pipeline.FailureBudget(pipeline.MaxFailureRate(0.5, 100))).
			Map(first200, stage.Name("parse")).Sink(sink.Discard[int]()).Run(context.Background())
		be := budgetError(t, st)
		assert.Equal(t, "MaxFailureRate(0.5, 100)", be.Limit)
		assert.Equal(t, int64(100), be.Failed)
		assert.Equal(t, int64(100), be.Items)
		assert.Contains(t, st.Message, "failure budget exceeded: 100 of the first 100 items failed (limit MaxFailureRate(0.5, 100)); last: ")
	})
	t.Run("never before the rate is passed", func(t *testing.T) {
		// Exactly 10% of the items fail, evenly, and the items settle in
		// the source's order (a generator hands them on one at a time):
		// at no point did more than 10% of the items settled fail, though
		// the sink counts its items done 64 at a time.
		st := pipeline.New(generator(20_000), pipeline.OnError(stage.Skip()),
			pipeline.FailureBudget(pipeline.MaxFailureRate(0.1, 0))).
			Map(failOn(func(v int) bool { return v%10 == 9 })).
			Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(2000), st.Counts.Skipped)
	})
	t.Run("above the items in flight, the order they settle in does not matter", func(t *testing.T) {
		// A failure settles where its stage fails it, an item done when
		// the sink has it: the items in flight between them (chunks of up
		// to 64, an ordered ParMap's window) settle after the failures of
		// items that came after them. 5% fail, evenly: from 5,000 items
		// on, never more than 10% of those settled.
		for _, workers := range []int{1, 4} {
			for _, ord := range parOrderings {
				st := pipeline.New(source.Slice(ints(50_000)), pipeline.OnError(stage.Skip()),
					pipeline.FailureBudget(pipeline.MaxFailureRate(0.1, 5000))).
					ParMap(workers, failOn(func(v int) bool { return v%20 == 19 }), ord.opts...).
					Sink(sink.Discard[int]()).Run(context.Background())
				require.Equal(t, pipeline.CodeSuccess, st.Code, "%d workers, %s: %s", workers, ord.name, st.Message)
				assert.Equal(t, int64(2500), st.Counts.Skipped)
			}
		}
	})
	t.Run("late by the items that may yet be done", func(t *testing.T) {
		// 20% fail, past a limit of 10%: the run stops soon after the
		// 100th item, as soon as the items done that the sink has not
		// counted yet (up to 63) and those on their way to it cannot make
		// up the difference.
		for _, workers := range []int{1, 4} {
			for _, ord := range parOrderings {
				st := pipeline.New(source.Slice(ints(100_000)), pipeline.OnError(stage.Skip()),
					pipeline.FailureBudget(pipeline.MaxFailureRate(0.1, 100))).
					ParMap(workers, failOn(func(v int) bool { return v%5 == 4 }), ord.opts...).
					Sink(sink.Discard[int]()).Run(context.Background())
				be := budgetError(t, st)
				assert.GreaterOrEqual(t, be.Items, int64(100))
				assert.Greater(t, float64(be.Failed), 0.1*float64(be.Items))
				c := st.Counts
				assert.Less(t, c.Done+c.Skipped, int64(1000), "%d workers, %s: %+v", workers, ord.name, c)
			}
		}
	})
}

func TestMaxFailuresInARow(t *testing.T) {
	// Bursts of burst failures, each followed by 9 items done.
	bursts := func(burst int) func(int) bool {
		return func(v int) bool { return v%(burst+9) < burst }
	}
	t.Run("5 in a row are allowed", func(t *testing.T) {
		st := pipeline.New(generator(10_000), pipeline.OnError(stage.Skip()),
			pipeline.FailureBudget(pipeline.MaxFailuresInARow(5))).
			Map(failOn(bursts(5)), stage.Name("insert")).Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(10_000/14*5+4), st.Counts.Skipped)
	})
	t.Run("the 6th stops the run", func(t *testing.T) {
		st := pipeline.New(generator(10_000), pipeline.OnError(stage.Skip()),
			pipeline.FailureBudget(pipeline.MaxFailuresInARow(5))).
			Map(failOn(bursts(6)), stage.Name("insert")).Sink(sink.Discard[int]()).Run(context.Background())
		be := budgetError(t, st)
		assert.Equal(t, int64(6), be.InARow)
		assert.Equal(t, int64(6), be.Failed)
		assert.Equal(t, "#5", st.Target)
		assert.Contains(t, st.Message, "failure budget exceeded: 6 items failed in a row (limit MaxFailuresInARow(5)); last: stage 1 \"insert\", item #5: item 5 is bad: boom")
	})
	t.Run("a total failure, at any number of workers", func(t *testing.T) {
		for _, workers := range []int{1, 4} {
			for _, ord := range parOrderings {
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(source.Slice(ints(100_000)), pipeline.OnError(dropAll),
						pipeline.FailureBudget(pipeline.MaxFailuresInARow(50))).
						ParMap(workers, failOn(func(v int) bool { return v >= 1000 }), ord.opts...).
						Sink(sink.Discard[int]()))
				be := budgetError(t, st)
				assert.Equal(t, int64(51), be.InARow, "%d workers, %s", workers, ord.name)
				// Items done that were still in flight (in chunks, a
				// window) when the failures began settle after some of
				// them, and start the count again.
				assert.Less(t, st.Counts.DeadLettered, int64(1000))
			}
		}
	})
}

func TestWithoutFailureBudgetNothingStopsTheRun(t *testing.T) {
	st := pipeline.New(source.Slice(ints(20_000)), pipeline.OnError(stage.Skip()), pipeline.WithoutFailureBudget()).
		Map(failOn(func(int) bool { return true }), stage.Name("insert")).
		Sink(sink.Discard[int]()).Run(context.Background())
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, `Finished with 20,000 of 20,000 items skipped (stage 1 "insert": 20,000)`, st.Message)
}

func TestFailureBudgetReplacesTheDefault(t *testing.T) {
	st := pipeline.New(source.Slice(ints(20_000)), pipeline.OnError(stage.Skip()),
		pipeline.FailureBudget(pipeline.MaxFailures(1_000_000))).
		Map(failOn(func(int) bool { return true })).
		Sink(sink.Discard[int]()).Run(context.Background())
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, int64(20_000), st.Counts.Skipped)
}

func TestAFailureBudgetThatCannotWorkIsInvalid(t *testing.T) {
	for _, c := range []struct {
		opt  pipeline.Option
		want string
	}{
		{pipeline.FailureBudget(), "FailureBudget: no limit given; WithoutFailureBudget turns the budget off"},
		{pipeline.FailureBudget(nil), "FailureBudget: no limit given"},
		{pipeline.FailureBudget(pipeline.MaxFailures(-1)), "FailureBudget: MaxFailures(-1): the count must be at least 0"},
		{pipeline.FailureBudget(pipeline.MaxFailuresInARow(-2)), "FailureBudget: MaxFailuresInARow(-2): the count must be at least 0"},
		{pipeline.FailureBudget(pipeline.MaxFailureRate(1, 100)), "FailureBudget: MaxFailureRate(1, 100): the rate must be at least 0 and below 1"},
		{pipeline.FailureBudget(pipeline.MaxFailureRate(-0.5, 100)), "MaxFailureRate(-0.5, 100): the rate must"},
		{pipeline.FailureBudget(pipeline.MaxFailureRate(math.NaN(), 100)), "MaxFailureRate(NaN, 100): the rate must"},
		{pipeline.FailureBudget(pipeline.MaxFailureRate(0.1, -1)), "MaxFailureRate(0.1, -1): the rate must be at least 0 and below 1, and the items at least 0"},
	} {
		st := pipeline.New(source.Slice(ints(3)), c.opt).Sink(sink.Discard[int]()).Run(context.Background())
		assert.Equal(t, pipeline.CodeInvalid, st.Code, c.want)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, c.want)
	}
}

// The budget counts source items: a batch for its members, a FlatMap
// parent once, when its children have all settled.
func TestTheBudgetCountsSourceItems(t *testing.T) {
	t.Run("a batch", func(t *testing.T) {
		st := pipeline.New(source.Slice(ints(10_000)), pipeline.OnError(dropAll),
			pipeline.FailureBudget(pipeline.MaxFailures(499))).
			Batch(500).
			Map(stage.Func(func(context.Context, []int) (int, error) { return 0, errBoom }), stage.Name("insert")).
			Sink(sink.Discard[int]()).Run(context.Background())
		be := budgetError(t, st)
		assert.Equal(t, int64(500), be.Failed)
		assert.Equal(t, pipeline.Counts{In: st.Counts.In, DeadLettered: 500, Abandoned: st.Counts.In - 500}, st.Counts)
	})
	t.Run("a FlatMap parent", func(t *testing.T) {
		// Every parent has 3 children, whose first fails: each parent
		// counts once, so the 3rd stops a run allowed 2.
		st := pipeline.New(generator(100), pipeline.OnError(stage.Skip()),
			pipeline.FailureBudget(pipeline.MaxFailures(2))).
			FlatMap(stage.Flat(func(_ context.Context, v int) ([]int, error) { return []int{3 * v, 3*v + 1, 3*v + 2}, nil })).
			Map(failOn(func(v int) bool { return v%3 == 0 }), stage.Name("check")).
			Sink(sink.Discard[int]()).Run(context.Background())
		be := budgetError(t, st)
		assert.Equal(t, int64(3), be.Failed)
		assert.Equal(t, "check", st.Stage)
		assert.Equal(t, int64(3), st.Counts.Skipped)
	})
	t.Run("an item that fails after retries, once", func(t *testing.T) {
		var calls atomic.Int64
		h := stage.Func(func(_ context.Context, v int) (int, error) {
			calls.Add(1)
			return 0, errBoom
		})
		st := pipeline.New(generator(100), pipeline.OnError(stage.Retry(3, 0, 0).Then(stage.Skip())),
			pipeline.FailureBudget(pipeline.MaxFailures(4))).
			Map(h).Sink(sink.Discard[int]()).Run(context.Background())
		be := budgetError(t, st)
		assert.Equal(t, int64(5), be.Failed)
		assert.Equal(t, int64(15), calls.Load(), "5 items, 3 attempts each")
	})
}

func TestABudgetErrorLeadsToTheItemsError(t *testing.T) {
	errTable := errors.New("no such table: orders")
	st := pipeline.New(generator(1000), pipeline.OnError(dropAll)).
		Map(stage.Func(func(context.Context, int) (int, error) { return 0, errTable }),
			stage.Name("insert"), stage.Label(func(v int) string { return fmt.Sprintf("orders.csv:%d", v+2) })).
		Sink(sink.Discard[int]()).Run(context.Background())
	be := budgetError(t, st)
	assert.Equal(t, `failure budget exceeded: 100 of the first 100 items failed (default limit MaxFailureRate(0.99, 100)); last: stage 1 "insert", item "orders.csv:101": no such table: orders`, st.Message)
	assert.Equal(t, pipeline.BudgetError{Limit: "MaxFailureRate(0.99, 100)", Default: true, Failed: 100, InARow: 100, Items: 100, Last: be.Last},
		withoutKind(be))
	assert.ErrorIs(t, st.Err, errTable)
	var se *stage.Error
	require.ErrorAs(t, st.Err, &se)
	assert.Same(t, se, be.Last)
	assert.Equal(t, "insert", st.Stage)
	assert.Equal(t, "orders.csv:101", st.Target)
}

// withoutKind copies the exported fields of be.
func withoutKind(be *pipeline.BudgetError) pipeline.BudgetError {
	return pipeline.BudgetError{Limit: be.Limit, Default: be.Default, Failed: be.Failed, InARow: be.InARow, Items: be.Items, Last: be.Last}
}

// When the budget stops a run, every receipt is settled once with what
// happened to its item, or not at all when the item was abandoned.
func TestReceiptsSettleRightWhenTheBudgetStopsTheRun(t *testing.T) {
	for _, workers := range []int{1, 4} {
		for _, ord := range parOrderings {
			t.Run(fmt.Sprintf("%d workers, %s", workers, ord.name), func(t *testing.T) {
				rs := newReceipts(20_000, 1, false, nil)
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(fromReceipts(rs, nil), pipeline.OnError(dropAll),
						pipeline.FailureBudget(pipeline.MaxFailures(30))).
						ParMap(workers, failOn(func(v int) bool { return v%3 == 0 }), ord.opts...).
						Sink(sink.Discard[int]()))
				budgetError(t, st)
				c := st.Counts
				countsMatch(t, rs, c, int64(len(rs))-c.In) // never emitted: never settled
				for _, r := range rs {
					calls, o, _, _ := r.settled()
					if calls > 0 {
						assert.Equal(t, 1, calls, "item %d", r.id)
						want := source.Done
						if r.id%3 == 0 {
							want = source.DeadLettered
						}
						assert.Equal(t, want, o, "item %d", r.id)
					}
				}
				assert.GreaterOrEqual(t, c.DeadLettered, int64(31))
				balanced(t, c)
			})
		}
	}
}
