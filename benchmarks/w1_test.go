package benchmarks

import "testing"

// BenchmarkW1OneMap is W1: 1M ints through one Map (+1) on one worker into a
// sink that sums them. The work per item is next to nothing, so this
// measures what moving an item through a stage costs.
func BenchmarkW1OneMap(b *testing.B) {
	mapWorkload{xs: ints(size(1_000_000)), fs: []mapFunc{add1}, workers: 1}.run(b)
}
