package benchmarks

import (
	"testing"
)

// perItem reports ns/item, items/s and allocs/item for a benchmark that
// moved items items per b.N iteration. Call it after the timed loop.
func perItem(b *testing.B, items int) {
	b.Helper()
	total := float64(b.N) * float64(items)
	ns := float64(b.Elapsed().Nanoseconds())
	b.ReportMetric(ns/total, "ns/item")
	b.ReportMetric(total/(ns/1e9), "items/s")
}
