package benchmarks

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// mapFunc is the shape of every per-item function here: the signature
// conveyor's stage.Func takes, called through a func value by every
// implementation, the loop included, so all of them pay the same call.
type mapFunc = func(ctx context.Context, v int) (int, error)

func add1(_ context.Context, v int) (int, error) { return v + 1, nil }
func mul3(_ context.Context, v int) (int, error) { return v * 3, nil }
func sub2(_ context.Context, v int) (int, error) { return v - 2, nil }

// ints returns 0, 1, ..., n-1.
func ints(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

// compose applies fs in turn: what a pool task does for a chain of stages.
func compose(fs []mapFunc) mapFunc {
	if len(fs) == 1 {
		return fs[0]
	}
	return func(ctx context.Context, v int) (int, error) {
		for _, f := range fs {
			var err error
			if v, err = f(ctx, v); err != nil {
				return 0, err
			}
		}
		return v, nil
	}
}

// want returns the sum of f over xs, computed sequentially: the result
// every implementation must reproduce.
func want(xs []int, f mapFunc) int {
	sum := 0
	for _, v := range xs {
		r, err := f(context.Background(), v)
		if err != nil {
			panic(err)
		}
		sum += r
	}
	return sum
}

// mix is one round of a 64-bit hash (splitmix64's finalizer): a few
// dependent multiply-xor-shift steps the compiler can neither vectorize nor
// skip.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// burner is CPU-bound work of a calibrated length per item.
type burner struct{ rounds int }

// newBurner returns a burner whose Handle takes about d of CPU time on this
// machine.
func newBurner(d time.Duration) burner {
	r := int(float64(d) / nsPerRound())
	return burner{rounds: max(r, 1)}
}

// Handle hashes v rounds times. The result depends on every round.
func (w burner) Handle(_ context.Context, v int) (int, error) {
	x := uint64(v)
	for range w.rounds {
		x = mix(x)
	}
	return int(x >> 40), nil // small, so sums do not wrap
}

// nsPerRound is the cost of one round of mix, measured once per process: the
// fastest of several timings, as the machine is shared and noise only ever
// slows a timing down.
var nsPerRound = sync.OnceValue(func() float64 {
	const rounds = 1 << 20
	best := time.Duration(1<<63 - 1)
	var sink uint64
	for try := range 7 {
		x := uint64(try)
		start := time.Now()
		for range rounds {
			x = mix(x)
		}
		best = min(best, time.Since(start))
		sink += x
	}
	keep.Add(sink)
	return float64(best) / rounds
})

// keep takes values that must be computed but are not otherwise used.
var keep atomic.Uint64

// sleeper sleeps d per item and adds up how long each sleep really took, so
// a benchmark can compare its throughput with workers / mean sleep.
type sleeper struct {
	d     time.Duration
	slept atomic.Int64 // ns, all items since the last reset
}

// Handle sleeps and returns v+1.
func (s *sleeper) Handle(_ context.Context, v int) (int, error) {
	start := time.Now()
	time.Sleep(s.d)
	s.slept.Add(int64(time.Since(start)))
	return v + 1, nil
}

// checksum folds v into h so that the result depends on the order of the
// values: the sink of the ordered variants of W5.
func checksum(h, v int) int { return h*31 + v }
