package stats_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
)

func TestSink(t *testing.T) {
	const n = 2000
	nums := make([]int, n)
	for i := range nums {
		nums[i] = i
	}
	// count is the seed's _reset_stats + _handle_item: a fresh Delta per
	// item, shared by every worker and safe for concurrent use.
	count := stage.Func(func(_ context.Context, v int) (stats.Delta, error) {
		d := stats.Delta{"items": 1, "sum": int64(v)}
		if v%2 == 0 {
			d.Add("even", 1)
		} else {
			d.Add("odd", 1)
		}
		return d, nil
	})
	want := stats.Snapshot{"items": n, "even": n / 2, "odd": n / 2, "sum": n * (n - 1) / 2}

	for _, ordered := range []bool{false, true} {
		for _, workers := range []int{1, 8} {
			t.Run(fmt.Sprintf("it merges every delta exactly from %d workers, ordered %v", workers, ordered), func(t *testing.T) {
				reg := stats.New()
				var opts []stage.Option
				if ordered {
					opts = append(opts, stage.Ordered())
				}
				st := pipeline.New(source.Slice(nums), pipeline.WithStats(reg)).
					ParMap(workers, count, opts...).
					Sink(stats.Sink(reg)).Run(t.Context())

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, want, reg.Snapshot())
				assert.Equal(t, want, st.Stats)
				assert.Equal(t, int64(n), st.Counts.Done)
			})
		}
	}

	t.Run("it adds to what the registry already holds, totals included", func(t *testing.T) {
		reg := stats.New()
		reg.SetTotal("items_total", 3)
		reg.Set("items", 10)
		st := pipeline.New(source.Slice([]stats.Delta{{"items": 1}, {"items": 2, "new": 5}, nil})).
			Sink(stats.Sink(reg)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, stats.Snapshot{"items_total": 3, "items": 13, "new": 5}, reg.Snapshot())
		assert.Equal(t, map[string]int64{"items_total": 3}, reg.Totals())
		assert.Equal(t, int64(3), st.Counts.Done, "a nil delta is an item too")
	})

	t.Run("a nil registry makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Slice([]stats.Delta{{"items": 1}})).Sink(stats.Sink(nil)).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"stats": nil registry`)
		assert.Zero(t, st.Counts.In, "nothing runs")
	})

	t.Run("it is named stats", func(t *testing.T) {
		assert.Equal(t, "stats", stats.Sink(stats.New()).Name())
	})
}
