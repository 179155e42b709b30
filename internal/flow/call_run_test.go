package flow

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

var errOdd = errors.New("odd")

// runGuard returns a guard under policy p, and the run it counts in.
func runGuard(t *testing.T, p Policy) (*Guard[int], *Run) {
	t.Helper()
	run := NewRun(zap.NewNop(), p)
	g, err := NewGuard[int](run.Scope(1, "map"), nil, nil)
	require.NoError(t, err)
	return g, run
}

func TestCallRunKeepsTheResultsBeforeAFailure(t *testing.T) {
	ctx := context.Background()
	vs := []int{1, 2, 3, 4, 5, 6}
	for _, tc := range []struct {
		name string
		f    func(context.Context, int) (int, error)
	}{
		{"an error", func(_ context.Context, v int) (int, error) {
			if v == 4 {
				return 0, errOdd
			}
			return v * 10, nil
		}},
		{"a panic", func(_ context.Context, v int) (int, error) {
			if v == 4 {
				panic("boom")
			}
			return v * 10, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, run := runGuard(t, FailFast())
			out, outTs, err := CallRun(ctx, g, 100, vs, nil, tc.f, nil, nil)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "#103", e.Label, "the failing item is named by its index in the stage")
			assert.Equal(t, []int{10, 20, 30}, out)
			assert.Empty(t, outTs, "a run of fresh items has no tags to pass on")
			assert.EqualValues(t, 1, run.Counts.Failed.Load())
		})
	}
}

func TestCallRunGoesOnPastSkippedItems(t *testing.T) {
	g, run := runGuard(t, Skip())
	vs := []int{1, 2, 3, 4, 5}
	ts := []Tag{One(), One().Plus(1), One(), One().Plus(2), One()}
	calls := 0
	f := func(_ context.Context, v int) (int, error) {
		calls++
		if v%2 == 0 {
			if v == 4 {
				panic("four")
			}
			return 0, errOdd
		}
		return v, nil
	}
	out, outTs, err := CallRun(context.Background(), g, 0, vs, ts, f, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 3, 5}, out)
	assert.Equal(t, []Tag{ts[0], ts[2], ts[4]}, outTs, "each result keeps its item's tag")
	assert.Equal(t, 5, calls)
	assert.EqualValues(t, 2+3, run.Counts.Skipped.Load(), "the skipped items stood for 2 and 3 source items")
}

func TestCallRunRetriesAFailingItemOnItsOwn(t *testing.T) {
	g, run := runGuard(t, Retry(3, 0, 0))
	failed := map[int]bool{}
	f := func(_ context.Context, v int) (int, error) {
		if v == 2 && !failed[v] {
			failed[v] = true
			return 0, errOdd
		}
		return v, nil
	}
	out, _, err := CallRun(context.Background(), g, 0, []int{1, 2, 3}, nil, f, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, out)
	assert.EqualValues(t, 1, run.Counts.Retried.Load())
}

func TestCallRunAllocatesNothingWhenItemsSucceed(t *testing.T) {
	g, _ := runGuard(t, FailFast())
	vs := make([]int, 64)
	out := make([]int, 0, 64)
	f := func(_ context.Context, v int) (int, error) { return v + 1, nil }
	allocs := testing.AllocsPerRun(100, func() {
		out, _, _ = CallRun(context.Background(), g, 0, vs, nil, f, out[:0], nil)
	})
	assert.Zero(t, allocs)
}

func TestCallRunSinkCountsWhatItAccepted(t *testing.T) {
	ctx := context.Background()
	var seen []int
	f := func(_ context.Context, v int) error {
		switch v {
		case 3:
			panic("three")
		case 5:
			return errOdd
		}
		seen = append(seen, v)
		return nil
	}
	t.Run("fail fast stops at the first failure", func(t *testing.T) {
		seen = nil
		g, run := runGuard(t, FailFast())
		n, _, err := CallRunSink(ctx, g, 0, []int{1, 2, 3, 4}, nil, f, nil)
		var pe *PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 2, n)
		assert.Equal(t, []int{1, 2}, seen)
		assert.EqualValues(t, 1, run.Counts.Failed.Load())
	})
	t.Run("skip goes on past failures and keeps the tags of the rest", func(t *testing.T) {
		seen = nil
		g, run := runGuard(t, Skip())
		ts := []Tag{One(), One(), One().Plus(1), One(), One().Plus(4), One()}
		n, outTs, err := CallRunSink(ctx, g, 0, []int{1, 2, 3, 4, 5, 6}, ts, f, nil)
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		assert.Equal(t, []int{1, 2, 4, 6}, seen)
		assert.Equal(t, []Tag{ts[0], ts[1], ts[3], ts[5]}, outTs)
		assert.EqualValues(t, 2+5, run.Counts.Skipped.Load())
	})
}
