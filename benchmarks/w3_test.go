package benchmarks

import (
	"context"
	"testing"
	"time"
)

// BenchmarkW3CPU is W3: 100k items of about 1 µs of CPU each on 2 workers.
// eff% is each variant's throughput over twice the sequential loop's, the
// loop's being measured just before the sub-benchmarks run: 100 means both
// cores did nothing but the work.
func BenchmarkW3CPU(b *testing.B) {
	const workers = 2
	w := newBurner(time.Microsecond)
	xs := ints(size(100_000))
	seq := seqRate(xs, w.Handle)
	mapWorkload{
		xs: xs, fs: []mapFunc{w.Handle}, workers: workers,
		after: func(b *testing.B, r result) {
			b.ReportMetric(100*r.perSec/(workers*seq), "eff%")
		},
	}.run(b)
}

// seqRate returns the items per second of the sequential loop over (up to
// 20k of) xs: the best of three timings, as on a shared machine noise only
// slows a timing down.
func seqRate(xs []int, f mapFunc) float64 {
	xs = xs[:min(len(xs), 20_000)]
	ctx := context.Background()
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		sum := 0
		for _, v := range xs {
			r, _ := f(ctx, v)
			sum += r
		}
		best = min(best, time.Since(start))
		keep.Add(uint64(sum))
	}
	return float64(len(xs)) / best.Seconds()
}
