package stats_test

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stats"
)

func TestRegistrySetAddGet(t *testing.T) {
	r := stats.New()
	r.Set("a", 10)
	assert.Equal(t, int64(10), r.Get("a"))
	assert.Equal(t, int64(13), r.Add("a", 3))
	assert.Equal(t, int64(-1), r.Add("b", -1))
	assert.Equal(t, int64(-1), r.Get("b"))
}

func TestRegistryGetUnknownIsZero(t *testing.T) {
	r := stats.New()
	assert.Equal(t, int64(0), r.Get("nope"))
	// Get must not create the name as a side effect.
	assert.NotContains(t, r.Snapshot(), "nope")
}

func TestRegistryCounterIsShared(t *testing.T) {
	r := stats.New()
	c := r.Counter("x")
	require.Same(t, c, r.Counter("x"))
	c.Add(4)
	assert.Equal(t, int64(4), r.Get("x"))
	r.Add("x", 1)
	assert.Equal(t, int64(5), c.Load())
}

func TestRegistryCounterFirstUseRace(t *testing.T) {
	// Goroutines racing to create the same name must all get one Counter;
	// otherwise increments land in a counter the map later drops. One race
	// per name is easy to win by luck, so every goroutine walks the same
	// 1,000 fresh names in step and each name must end at exactly
	// goroutines.
	const names = 1_000
	keys := make([]string, names)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%04d", i)
	}
	r := stats.New()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			<-start
			for _, k := range keys {
				r.Add(k, 1)
			}
		})
	}
	close(start)
	wg.Wait()

	snap := r.Snapshot()
	require.Len(t, snap, names)
	assert.Equal(t, names, r.Len(), "each name is counted once, however many raced to make it")
	all := map[string]int64{}
	for k, v := range r.All() {
		all[k] = v
	}
	assert.Equal(t, map[string]int64(snap), all, "All walks what Snapshot copies")
	for range r.All() {
		break // a walk may stop early
	}
	for _, k := range keys {
		require.Equal(t, int64(goroutines), snap[k], "counter %s lost increments", k)
		require.Same(t, r.Counter(k), r.Counter(k))
	}
}

func TestRegistryConcurrentAddExact(t *testing.T) {
	r := stats.New()
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			// Half the goroutines go through the name each time, half keep
			// the *Counter; both paths must hit the same value. The per-
			// goroutine counter forces concurrent first-use creation too.
			own := fmt.Sprintf("g%02d", i)
			if i%2 == 0 {
				for range perG {
					r.Add("shared", 1)
					r.Add(own, 1)
				}
				return
			}
			shared, mine := r.Counter("shared"), r.Counter(own)
			for range perG {
				shared.Add(1)
				mine.Add(1)
			}
		})
	}
	wg.Wait()

	assert.Equal(t, int64(goroutines*perG), r.Get("shared"))
	snap := r.Snapshot()
	assert.Len(t, snap, goroutines+1)
	for i := range goroutines {
		assert.Equal(t, int64(perG), snap[fmt.Sprintf("g%02d", i)])
	}
}

func TestRegistryConcurrentAddViaBothPathsExact(t *testing.T) {
	// Every goroutine mixes Add(name) and Counter(name).Add on the same
	// counter, so the two paths interleave on one value.
	r := stats.New()
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for j := range perG {
				if j%2 == 0 {
					r.Add("n", 1)
				} else {
					r.Counter("n").Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*perG), r.Get("n"))
}

func TestRegistryAddAllConcurrentExact(t *testing.T) {
	r := stats.New()
	d := stats.Delta{"items": 3, "batches": 1, "skipped": -1}
	var wg sync.WaitGroup
	// Readers run alongside the writers: Snapshot may see partial batches
	// but must not race or panic.
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					_ = r.Snapshot()
				}
			}
		})
	}
	const rounds = 1_000
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				r.AddAll(d) // d is shared and only read by AddAll
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()

	n := int64(goroutines * rounds)
	assert.Equal(t, stats.Snapshot{
		"items":   3 * n,
		"batches": n,
		"skipped": -n,
	}, r.Snapshot())
}

func TestRegistryAddAllEmpty(t *testing.T) {
	r := stats.New()
	r.AddAll(nil)
	r.AddAll(stats.Delta{})
	assert.Empty(t, r.Snapshot())
}

func TestRegistrySnapshotIgnore(t *testing.T) {
	r := stats.New()
	r.Set("a", 1)
	r.Set("b", 2)
	r.Set("c", 3)

	assert.Equal(t, stats.Snapshot{"a": 1, "b": 2, "c": 3}, r.Snapshot())
	assert.Equal(t, stats.Snapshot{"b": 2}, r.Snapshot("a", "c"))
	assert.Equal(t, stats.Snapshot{"a": 1, "b": 2, "c": 3}, r.Snapshot("unknown"))

	// The snapshot is a copy: changing it leaves the registry alone and
	// later increments do not show up in it.
	s := r.Snapshot()
	s["a"] = 100
	r.Add("b", 1)
	assert.Equal(t, int64(1), r.Get("a"))
	assert.Equal(t, int64(2), s["b"])
}

func TestRegistryTotalsOnlyTotals(t *testing.T) {
	r := stats.New()
	assert.Empty(t, r.Totals())

	r.Add("items", 5)
	r.Set("errors", 1)
	r.SetTotal("items_total", 100)
	r.SetTotal("batches_total", 10)

	assert.Equal(t, map[string]int64{"items_total": 100, "batches_total": 10}, r.Totals())

	// Totals are ordinary counters otherwise, and stay totals when changed.
	r.SetTotal("items_total", 120)
	r.Add("batches_total", 2)
	assert.Equal(t, int64(120), r.Get("items_total"))
	assert.Equal(t, map[string]int64{"items_total": 120, "batches_total": 12}, r.Totals())
	assert.Equal(t, stats.Snapshot{
		"items": 5, "errors": 1, "items_total": 120, "batches_total": 12,
	}, r.Snapshot())
}

func TestRegistryElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := stats.New()
		assert.Equal(t, time.Duration(0), r.Elapsed())
		time.Sleep(time.Second)
		assert.Equal(t, time.Second, r.Elapsed())
		time.Sleep(time.Minute)
		assert.Equal(t, time.Minute+time.Second, r.Elapsed())
	})
}

func BenchmarkRegistryAdd(b *testing.B) {
	r := stats.New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Add("items", 1)
		}
	})
}
