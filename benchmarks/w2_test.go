package benchmarks

import "testing"

// BenchmarkW2ThreeMaps is W2: W1 through three chained Maps (+1, *3, -2),
// each on one worker: what a chain of cheap stages costs. The hand-written
// pipelines run a goroutine per stage; the pool libraries, which have no
// stages, a task per item applying all three.
func BenchmarkW2ThreeMaps(b *testing.B) {
	mapWorkload{xs: ints(size(1_000_000)), fs: []mapFunc{add1, mul3, sub2}, workers: 1}.run(b)
}
