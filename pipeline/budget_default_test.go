package pipeline_test

import (
	"context"
	"errors"
	"fmt"
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

// parOrderings are the two orderings of a ParMap, for tests that run both.
var parOrderings = []struct {
	name string
	opts []stage.Option
}{{"unordered", nil}, {"ordered", []stage.Option{stage.Ordered()}}}

// A pipeline-wide Skip or DeadLetter policy must not hide a total failure:
// under the default budget, a run whose first 100 items all fail stops at
// the 100th, with code 1, naming the budget and the last item's error.
func TestTheDefaultBudgetStopsARunWhoseFirst100ItemsAllFail(t *testing.T) {
	const n = 200_000
	for _, policy := range []struct {
		name string
		p    stage.Policy
	}{{"skip", stage.Skip()}, {"dead letter", dropAll}} {
		for _, src := range []struct {
			name   string
			of     func(*atomic.Int64) *source.Of[int]
			failed int64
			want   string
		}{
			{"a generator", func(produced *atomic.Int64) *source.Of[int] { return counting(n, produced) }, 100,
				`100 of the first 100 items failed (default limit MaxFailureRate(0.99, 100)); last: stage 1 "insert", item #99: item 99 is bad: boom`},
			// A slice hands its items on 64 at a time: at the 100th
			// failure 128 items are read, and the rest of the run may yet
			// be done.
			{"a slice", func(*atomic.Int64) *source.Of[int] { return source.Slice(ints(n)) }, 127,
				`127 of 128 items failed (default limit MaxFailureRate(0.99, 100)); last: stage 1 "insert", item #126: item 126 is bad: boom`},
		} {
			t.Run(policy.name+", "+src.name, func(t *testing.T) {
				var produced atomic.Int64
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(src.of(&produced), pipeline.OnError(policy.p)).
						Map(failOn(func(int) bool { return true }), stage.Name("insert")).
						Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.Equal(t, "failure budget exceeded: "+src.want, st.Message)
				assert.ErrorIs(t, st.Err, errBoom, "the last item's error")
				var se *stage.Error
				require.ErrorAs(t, st.Err, &se)
				assert.Equal(t, "insert", st.Stage)
				assert.Equal(t, fmt.Sprintf("#%d", src.failed-1), st.Target)
				assert.Equal(t, src.failed, st.Counts.Skipped+st.Counts.DeadLettered)
				assert.Zero(t, st.Counts.Done)
				assert.LessOrEqual(t, st.Counts.In, int64(128), "the source stopped at once: %+v", st.Counts)
				balanced(t, st.Counts)
			})
		}
	}
}

// Behind a ParMap the source reads ahead of the failures (a chunk, a
// buffer): the items on their way may yet be done, and a rate counts them
// as if they will, so the default rate stops a total failure once those
// are under 1% of the items, or the default run of 1,000 in a row does.
func TestTheDefaultBudgetStopsATotalFailureBehindAParMap(t *testing.T) {
	const n = 200_000
	for _, workers := range []int{1, 4} {
		for _, ord := range parOrderings {
			t.Run(fmt.Sprintf("%d workers, %s", workers, ord.name), func(t *testing.T) {
				var produced atomic.Int64
				opts := append([]stage.Option{stage.Name("insert")}, ord.opts...)
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(counting(n, &produced), pipeline.OnError(dropAll)).
						ParMap(workers, failOn(func(int) bool { return true }), opts...).
						Sink(sink.Discard[int]()))

				var be *pipeline.BudgetError
				require.ErrorAs(t, st.Err, &be, st.Message)
				assert.Equal(t, pipeline.CodeFailure, st.Code)
				assert.True(t, be.Default)
				assert.Contains(t, []string{"MaxFailureRate(0.99, 100)", "MaxFailuresInARow(1000)"}, be.Limit)
				assert.LessOrEqual(t, be.Failed, int64(1001))
				c := st.Counts
				assert.LessOrEqual(t, c.DeadLettered, int64(1001+workers), "workers may each settle one more while the run stops")
				assert.Zero(t, c.Done)
				assert.Less(t, produced.Load(), int64(n/10), "the source stopped at once")
				balanced(t, c)
			})
		}
	}
}

func TestTheDefaultBudgetLetsARunWithSomeItemsDoneGoOn(t *testing.T) {
	// 99 of the first 100 fail, then 1 in 50: never more than 99%.
	bad := func(v int) bool { return v >= 1 && v < 100 || v >= 100 && v%50 == 0 }
	st := pipeline.New(source.Slice(ints(20_000)), pipeline.OnError(stage.Skip())).
		Map(failOn(bad), stage.Name("parse")).
		Sink(sink.Discard[int]()).Run(context.Background())
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, `Finished with 497 of 20,000 items skipped (stage 1 "parse": 497)`, st.Message)
}

// A run that starts failing midway (a database gone away) stops after
// 1,000 failures in a row, long before more than 99% of its items failed.
func TestTheDefaultBudgetStopsAfter1000FailuresInARow(t *testing.T) {
	t.Run("1,001 in a row stop the run", func(t *testing.T) {
		st := pipeline.New(generator(100_000), pipeline.OnError(stage.Skip())).
			Map(failOn(func(v int) bool { return v >= 5000 }), stage.Name("insert")).
			Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `failure budget exceeded: 1,001 items failed in a row (default limit MaxFailuresInARow(1000)); last: stage 1 "insert", item #6000: item 6000 is bad: boom`)
		assert.Equal(t, int64(1001), st.Counts.Skipped)
		assert.Equal(t, int64(5000), st.Counts.Done)
		assert.Equal(t, "#6000", st.Target)
	})
	t.Run("an item done between 1,000 failures and the next starts again", func(t *testing.T) {
		// Runs of 1,000 failures, each followed by one item done: the
		// tally of done items, which counts them in runs of 64, must count
		// that one at once.
		bad := func(v int) bool { return v >= 5000 && v%1001 != 0 }
		st := pipeline.New(generator(50_000), pipeline.OnError(stage.Skip())).
			Map(failOn(bad), stage.Name("insert")).
			Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(50_000-5000-45), st.Counts.Skipped)
	})
	t.Run("at a sink that takes runs of items and fails them all", func(t *testing.T) {
		st := pipeline.New(source.Slice(ints(100_000)), pipeline.OnError(dropAll)).
			Sink(sinkFailOn(func(v int) bool { return v >= 5000 })).Run(context.Background())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		// The sink counts the items it took from a run once it has been
		// through the run: the 8 done of the run where failures begin
		// (4992 to 5055) settle after its 56 failures, and start the count
		// again.
		assert.Contains(t, st.Message, `failure budget exceeded: 1,001 items failed in a row (default limit MaxFailuresInARow(1000)); last: stage 1 "store", item #6056: cannot store 6056: boom`)
		assert.Equal(t, pipeline.Counts{In: st.Counts.In, Done: 5000, DeadLettered: 1057, Abandoned: st.Counts.In - 6057}, st.Counts)
	})
	t.Run("items taken a run at a time settle a run at a time", func(t *testing.T) {
		// A Slice hands its items on 64 at a time, and Map passes on the
		// run's items done once it has been through the run: its failures
		// settle first, so the count in a row may take in up to 63 items
		// done of the run it starts or ends in.
		st := pipeline.New(source.Slice(ints(100_000)), pipeline.OnError(stage.Skip())).
			Map(failOn(func(v int) bool { return v >= 5000 }), stage.Name("insert")).
			Sink(sink.Discard[int]()).Run(context.Background())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `failure budget exceeded: 1,001 items failed in a row (default limit MaxFailuresInARow(1000))`)
		assert.GreaterOrEqual(t, st.Counts.Skipped, int64(1001))
		assert.LessOrEqual(t, st.Counts.Skipped, int64(1001+63))
	})
}

// generator is a source.Func of 0, 1, ... n-1: it hands its items on one
// at a time.
func generator(n int) *source.Of[int] {
	return source.Func(func(_ context.Context, yield func(int) bool) error {
		for i := range n {
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
}

// Items whose failure stops the run anyway (FailFast) leave the budget
// alone: the run's error is theirs.
func TestAFatalFailureIsNotABudgetError(t *testing.T) {
	st := pipeline.New(source.Slice(ints(1000))).
		Map(failOn(func(v int) bool { return v == 0 }), stage.Name("parse")).
		Sink(sink.Discard[int]()).Run(context.Background())
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.NotContains(t, st.Message, "budget")
	var se *stage.Error
	require.ErrorAs(t, st.Err, &se)
	assert.True(t, errors.Is(st.Err, errBoom))
}
