package benchmarks

import (
	"flag"
	"runtime"
	"testing"
	"time"
)

// maxItems caps the item count of every workload so that .ci/run can run
// one iteration of the whole suite in seconds; 0 keeps the full sizes.
var maxItems = flag.Int("items", 0, "cap on the item count of every workload (0: the full sizes)")

// size returns the item count of a workload whose full size is full.
func size(full int) int {
	if *maxItems > 0 && *maxItems < full {
		return *maxItems
	}
	return full
}

// result is what measure saw, for workloads that derive metrics of their
// own (efficiency, share of a ceiling).
type result struct {
	iters     int     // b.N: iterations of the timed loop
	items     int     // items per iteration
	nsPerItem float64 // wall time per item
	perSec    float64 // items per second
}

// measure runs body in b.Loop, fails the benchmark if body returns an error
// or anything but want, and reports per item, over the timed loop only:
//
//   - ns/item and items/s, from the loop's wall time;
//   - allocs/item: runtime.MemStats.Mallocs after minus before, over the
//     items moved. The testing package counts allocs/op the same way, but
//     its result is not visible to the benchmark, and the MemStats are read
//     outside the timed loop, so reading them costs the benchmark nothing;
//   - cores: the process's user+system CPU time (getrusage) over wall time,
//     i.e. how many cores the variant kept busy, garbage collector included.
//
// Everything body needs must be set up before measure is called.
func measure(b *testing.B, items, want int, body func() (int, error)) result {
	b.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	start := time.Now()
	for b.Loop() {
		got, err := body()
		if err != nil {
			b.Fatal(err)
		}
		if got != want {
			b.Fatalf("got %d, want %d", got, want)
		}
	}
	wall := time.Since(start)
	cpu1 := cpuTime()
	runtime.ReadMemStats(&after)

	total := float64(b.N) * float64(items)
	ns := float64(b.Elapsed().Nanoseconds())
	r := result{iters: b.N, items: items, nsPerItem: ns / total, perSec: total / (ns / 1e9)}
	b.ReportMetric(r.nsPerItem, "ns/item")
	b.ReportMetric(r.perSec, "items/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/item")
	if cpu0 >= 0 && cpu1 >= 0 && wall > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(wall), "cores")
	}
	return r
}
