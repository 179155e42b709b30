package flow

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistogramBucketsCoverEveryValueOnce(t *testing.T) {
	prev := -1
	for _, ns := range []int64{0, 1, 15, 16, 17, 31, 32, 100, 1023, 1024, 1 << 20, 1<<40 - 1} {
		b := bucketOf(ns)
		assert.GreaterOrEqual(t, b, prev, "buckets grow with the value (%d ns)", ns)
		assert.Less(t, ns, bucketTop(b), "%d ns is below its bucket's top", ns)
		if b > 0 {
			assert.GreaterOrEqual(t, ns, bucketTop(b-1), "%d ns is not below the previous bucket's top", ns)
		}
		prev = b
	}
	assert.Equal(t, histBuckets-1, bucketOf(1<<62), "huge values land in the last bucket")
}

func TestHistogramQuantilesWithinABucket(t *testing.T) {
	var h Histogram
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	for range 10000 {
		d := time.Duration(rng.Int64N(int64(10 * time.Millisecond)))
		vals = append(vals, d)
		h.Observe(d, 1)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		assert.InEpsilon(t, float64(want), float64(got), 0.13, "p%v", q*100)
	}
	assert.Equal(t, vals[len(vals)-1], h.Quantile(1))
	s := h.Snapshot()
	assert.EqualValues(t, 10000, s.Count)
	assert.Equal(t, vals[len(vals)-1], s.Max)
	assert.EqualValues(t, 10000, s.Below[len(s.Below)-1])
	require.True(t, slices.IsSorted(s.Below))
}

func TestHistogramWeightsAndConcurrentObservers(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				h.Observe(time.Microsecond, 3)
			}
		})
	}
	wg.Wait()
	s := h.Snapshot()
	assert.EqualValues(t, 24000, s.Count)
	assert.Equal(t, 24000*time.Microsecond, s.Sum)
	assert.Equal(t, time.Microsecond, h.Quantile(0.5))
	assert.Zero(t, new(Histogram).Quantile(0.5), "empty")
}

func TestHistogramObserveAllocatesNothing(t *testing.T) {
	var h Histogram
	assert.Zero(t, testing.AllocsPerRun(100, func() { h.Observe(5*time.Microsecond, 2) }))
}
