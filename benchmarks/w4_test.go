package benchmarks

import (
	"testing"
	"time"
)

// BenchmarkW4Sleep is W4: 2,000 items that each sleep 1 ms, on 64 workers:
// can the implementation keep every worker busy when items are slow?
// time.Sleep(1ms) sleeps longer than 1 ms (timer slack, scheduling), so the
// practical ceiling is workers / the mean sleep actually measured around
// each time.Sleep of the run; ceiling% is the throughput over that ceiling,
// and sleep-us the mean sleep.
func BenchmarkW4Sleep(b *testing.B) {
	const workers = 64
	s := &sleeper{d: time.Millisecond}
	mapWorkload{
		xs: ints(size(2_000)), fs: []mapFunc{s.Handle}, workers: workers,
		before: func() { s.slept.Store(0) },
		after: func(b *testing.B, r result) {
			mean := float64(s.slept.Load()) / float64(r.iters*r.items) // ns
			ceiling := workers / (mean / 1e9)                          // items/s
			b.ReportMetric(100*r.perSec/ceiling, "ceiling%")
			b.ReportMetric(mean/1e3, "sleep-us")
		},
	}.run(b)
}
