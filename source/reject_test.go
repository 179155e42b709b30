package source_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// errBad is why rejectOdd rejects an input.
var errBad = errors.New("bad input")

// rejectOdd returns a generator of the inputs 0..n-1 that yields the even
// ones and rejects the odd ones, labelled "input N", and records in *errs
// what each Reject returned. It returns Reject's error when there is one,
// as a generator must.
func rejectOdd(n int, errs *[]error) func(context.Context, func(int) bool) error {
	return func(ctx context.Context, yield func(int) bool) error {
		for i := range n {
			if i%2 == 1 {
				err := source.Reject(ctx, i, "input "+strconv.Itoa(i), errBad)
				*errs = append(*errs, err)
				if err != nil {
					return err
				}
				continue
			}
			if !yield(i) {
				return nil
			}
		}
		return nil
	}
}

// checkSettled checks that every item the source emitted, rejected ones
// included, was settled once.
func checkSettled(t *testing.T, st pipeline.ExitStatus) {
	t.Helper()
	c := st.Counts
	assert.Equal(t, c.In, c.Done+c.Dropped+c.Skipped+c.DeadLettered+c.Requeued+c.Failed+c.Abandoned, "%+v", c)
	assert.Zero(t, c.Abandoned, "%+v", c)
}

func TestReject(t *testing.T) {
	t.Run("under Skip a rejected input counts as emitted and skipped, and the run goes on", func(t *testing.T) {
		var errs []error
		var got []int
		st := pipeline.New(source.Func(rejectOdd(10, &errs)), pipeline.OnError(stage.Skip())).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 2, 4, 6, 8}, got)
		assert.Equal(t, []error{nil, nil, nil, nil, nil}, errs, "Reject returns nil when the run goes on")
		assert.Equal(t, int64(10), st.Counts.In)
		assert.Equal(t, int64(5), st.Counts.Done)
		assert.Equal(t, int64(5), st.Counts.Skipped)
		checkSettled(t, st)
	})

	t.Run("under DeadLetter the item, its label and the error go to the dead-letter function", func(t *testing.T) {
		var errs []error
		var dead []stage.DeadLetterItem
		policy := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
			dead = append(dead, d)
			return nil
		})
		st := pipeline.New(source.Func(rejectOdd(4, &errs)).Named("inputs"), pipeline.OnError(policy)).
			Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, dead, 2)
		for i, d := range dead {
			v := 2*i + 1
			assert.Equal(t, "inputs", d.Stage)
			assert.Equal(t, "input "+strconv.Itoa(v), d.Label)
			assert.Equal(t, v, d.Item)
			assert.ErrorIs(t, d.Err, errBad)
			var se *stage.Error
			require.ErrorAs(t, d.Err, &se)
			assert.Equal(t, "inputs", se.Stage)
			assert.Equal(t, 0, se.Index, "the source is stage 0")
		}
		assert.Equal(t, `stage 0 "inputs", item "input 1": bad input`, dead[0].Err.Error())
		assert.Equal(t, int64(4), st.Counts.In)
		assert.Equal(t, int64(2), st.Counts.DeadLettered)
		checkSettled(t, st)
	})

	t.Run("a dead-letter function's error fails the run, and Reject returns it", func(t *testing.T) {
		var errs []error
		policy := stage.DeadLetter(func(context.Context, stage.DeadLetterItem) error { return errBoom })
		st := pipeline.New(source.Func(rejectOdd(4, &errs)), pipeline.OnError(policy)).
			Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], errBoom)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "input 1", st.Target)
		assert.Equal(t, int64(1), st.Counts.Failed)
		assert.Equal(t, int64(2), st.Counts.In)
		checkSettled(t, st)
	})

	t.Run("under Retry a rejected input takes the fallback at once", func(t *testing.T) {
		var errs []error
		var got []int
		policy := stage.Retry(5, time.Hour, time.Hour).Then(stage.Skip())
		st := pipeline.New(source.Func(rejectOdd(6, &errs)), pipeline.OnError(policy)).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 2, 4}, got)
		assert.Zero(t, st.Counts.Retried, "nothing is tried again")
		assert.Equal(t, int64(3), st.Counts.Skipped)
		checkSettled(t, st)

		// Retry's default fallback is FailFast.
		errs = nil
		st = pipeline.New(source.Func(rejectOdd(6, &errs)), pipeline.OnError(stage.Retry(5, time.Hour, time.Hour))).
			Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBad)
		assert.Zero(t, st.Counts.Retried)
		checkSettled(t, st)
	})

	t.Run("under FailFast Reject returns an error naming the source and the label, which fails the run", func(t *testing.T) {
		var errs []error
		var got []int
		st := pipeline.New(source.Func(rejectOdd(10, &errs)).Named("inputs")).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, []int{0}, got, "what was yielded before reached the sink")
		require.Len(t, errs, 1)
		require.Error(t, errs[0])
		assert.Equal(t, `stage 0 "inputs", item "input 1": bad input`, errs[0].Error())
		assert.ErrorIs(t, st.Err, errBad)
		assert.Equal(t, "inputs", st.Stage)
		assert.Equal(t, "input 1", st.Target)
		assert.Contains(t, st.Message, `item "input 1": bad input`)
		assert.Equal(t, int64(2), st.Counts.In)
		assert.Equal(t, int64(1), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Failed)
		checkSettled(t, st)
	})

	t.Run("under FailFast the run fails even if the generator goes on, and its context is done", func(t *testing.T) {
		var ctxErr error
		var yielded []bool
		gen := func(ctx context.Context, yield func(int) bool) error {
			_ = source.Reject(ctx, 0, "first", errBad) // ignored, against Reject's doc
			ctxErr = ctx.Err()
			for i := range 3 {
				yielded = append(yielded, yield(i))
			}
			return nil
		}
		st := pipeline.New(source.Func(gen)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBad)
		assert.Equal(t, "first", st.Target)
		assert.ErrorIs(t, ctxErr, context.Canceled)
		assert.Equal(t, []bool{false, false, false}, yielded, "yield says false once the run has failed")
	})

	t.Run("it works in a WithReceipts generator, and under Merge", func(t *testing.T) {
		withReceipts := source.WithReceipts(func(ctx context.Context, yield func(int, source.Receipt) bool) error {
			if err := source.Reject(ctx, -1, "bad", errBad); err != nil {
				return err
			}
			yield(1, nil)
			return nil
		})
		st := pipeline.New(withReceipts, pipeline.OnError(stage.Skip())).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(2), st.Counts.In)
		assert.Equal(t, int64(1), st.Counts.Skipped)
		checkSettled(t, st)

		var mu sync.Mutex
		var errs []error
		gen := func(ctx context.Context, yield func(int) bool) error {
			var mine []error
			err := rejectOdd(100, &mine)(ctx, yield)
			mu.Lock()
			errs = append(errs, mine...)
			mu.Unlock()
			return err
		}
		var got []int
		st = pipeline.New(source.Merge(source.Func(gen), source.Func(gen)), pipeline.OnError(stage.Skip())).
			Sink(sink.Collect(&got)).Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Len(t, got, 100)
		assert.Len(t, errs, 100)
		assert.Equal(t, int64(200), st.Counts.In)
		assert.Equal(t, int64(100), st.Counts.Skipped)
		checkSettled(t, st)

		st = pipeline.New(source.Merge(source.Func(gen), source.Func(gen))).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBad)
		assert.Equal(t, "merge", st.Stage)
		assert.Equal(t, "input 1", st.Target)
	})

	t.Run("outside a run it returns err", func(t *testing.T) {
		assert.Equal(t, errBad, source.Reject(t.Context(), 1, "x", errBad))
	})

	t.Run("a nil err still rejects the item", func(t *testing.T) {
		gen := func(ctx context.Context, _ func(int) bool) error {
			return source.Reject(ctx, 1, "x", nil)
		}
		st := pipeline.New(source.Func(gen)).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, "rejected")
		assert.Equal(t, int64(1), st.Counts.Failed)
	})
}

// ExampleReject shows a generator that skips, under the pipeline's policy,
// the inputs it cannot make an item of.
func ExampleReject() {
	inputs := []string{"1", "2", "three", "4"}
	gen := func(ctx context.Context, yield func(int) bool) error {
		for i, s := range inputs {
			v, err := strconv.Atoi(s)
			if err != nil {
				if err := source.Reject(ctx, s, "input "+strconv.Itoa(i), err); err != nil {
					return err // the policy failed the run
				}
				continue
			}
			if !yield(v) {
				return nil
			}
		}
		return nil
	}
	var got []int
	st := pipeline.New(source.Func(gen), pipeline.OnError(stage.Skip())).Sink(sink.Collect(&got)).Run(context.Background())
	fmt.Println(got, st.Counts.In, st.Counts.Skipped)
	// Output: [1 2 4] 4 1
}
