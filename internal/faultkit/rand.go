package faultkit

import (
	"math/rand/v2"
	"time"
)

// Rand is the generator of a run's decisions. Its draws are a function of
// the seed given to [NewRand] alone. It is not safe for concurrent use.
type Rand struct{ *rand.Rand }

// NewRand returns the generator of the run with this seed: a PCG seeded from
// seed through [Splitmix], so that nearby seeds give unrelated streams.
func NewRand(seed int64) Rand {
	return Rand{rand.New(rand.NewPCG(Splitmix(uint64(seed)), Splitmix(^uint64(seed))))}
}

// Chance reports true with probability pct/100.
func (r Rand) Chance(pct int) bool { return r.IntN(100) < pct }

// Between returns an int in [lo, hi]; it panics if hi < lo.
func (r Rand) Between(lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// Pick returns i with probability weights[i] / sum(weights): never an i
// whose weight is 0. It panics if no weight is positive.
func (r Rand) Pick(weights ...int) int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	n := r.IntN(sum)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	panic("unreachable")
}

// Dur returns a duration in [lo, hi]; it panics if hi < lo.
func (r Rand) Dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// Splitmix is the splitmix64 finalizer: a bijection of uint64 that spreads
// nearby inputs far apart. The suites hash with it the decisions that must
// be a pure function of a seed, a stage and an item.
func Splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Mix hashes three words into one with [Splitmix].
func Mix(a, b, c uint64) uint64 { return Splitmix(Splitmix(Splitmix(a)^b) ^ c) }
