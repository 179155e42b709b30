package flow

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in buckets of about 12% width (8 per power of
// two), up to about 18 minutes, with an atomic add per observation: no lock
// and no allocation, so workers record into one histogram at once. The
// well-kept histograms do not fit: hdrhistogram-go is not safe for
// concurrent use, and client_golang's does not give percentiles back.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds, over every observation
	max    atomic.Int64
}

const (
	subBits     = 3 // 2^subBits buckets per power of two
	histExact   = 2 << subBits
	histOctaves = 40 - subBits // up to 2^40 ns
	histBuckets = histExact + histOctaves<<subBits
)

// bucketOf returns the bucket of a value of ns nanoseconds: values below
// 16 each have their own, and each power of two above is split in 8.
func bucketOf(ns int64) int {
	if ns < histExact {
		return int(max(ns, 0))
	}
	k := bits.Len64(uint64(ns)) - 1 // ns is in [2^k, 2^(k+1))
	sub := int(ns>>(k-subBits)) & (1<<subBits - 1)
	return min(histExact+(k-subBits-1)<<subBits+sub, histBuckets-1)
}

// bucketTop returns the smallest value above bucket b.
func bucketTop(b int) int64 {
	if b < histExact {
		return int64(b) + 1
	}
	k := (b-histExact)>>subBits + subBits + 1
	sub := int64(b-histExact) & (1<<subBits - 1)
	return (1<<subBits + sub + 1) << (k - subBits)
}

// Observe records n items that took d each.
func (h *Histogram) Observe(d time.Duration, n int) {
	if n <= 0 {
		return
	}
	ns := int64(d)
	h.counts[bucketOf(ns)].Add(uint64(n))
	h.sum.Add(ns * int64(n))
	for m := h.max.Load(); ns > m && !h.max.CompareAndSwap(m, ns); m = h.max.Load() {
	}
}

// HistogramSnapshot is a histogram read at one moment.
type HistogramSnapshot struct {
	Count uint64
	Sum   time.Duration
	Max   time.Duration
	// Cumulative counts of the observations below each power of two of
	// nanoseconds, from 1 µs (1024 ns) up: Below[i] is the count below
	// 2^(10+i) ns.
	Below []uint64
}

// FirstBound is the upper bound of HistogramSnapshot.Below[0].
const FirstBound = 1 << 10 * time.Nanosecond

// Snapshot reads the histogram. It is consistent enough for a report made
// while workers record: each bucket is read once.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Sum: time.Duration(h.sum.Load()), Max: time.Duration(h.max.Load())}
	var cum uint64
	for b := range h.counts {
		cum += h.counts[b].Load()
		if top := bucketTop(b); top >= int64(FirstBound) && top&(top-1) == 0 {
			s.Below = append(s.Below, cum)
		}
	}
	s.Count = cum
	return s
}

// Quantile returns the duration below which a share q (0 to 1) of the
// observations fall: the top of the bucket it is in (at most 12.5% above the
// true value), and never more than the largest observation. It is 0 when
// nothing was observed.
func (h *Histogram) Quantile(q float64) time.Duration {
	var total uint64
	for b := range h.counts {
		total += h.counts[b].Load()
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = max(1, min(rank, total))
	var cum uint64
	for b := range h.counts {
		cum += h.counts[b].Load()
		if cum >= rank {
			return min(time.Duration(bucketTop(b)-1), time.Duration(h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}
