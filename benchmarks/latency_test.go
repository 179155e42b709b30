package benchmarks

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"golang.org/x/sync/errgroup"
)

// stamped is an item that carries the time its source emitted it; a zero
// time marks an item of the burst, whose latency is not counted.
type stamped struct {
	v  int
	at time.Time
}

func stampAdd1(_ context.Context, s stamped) (stamped, error) {
	s.v++
	return s, nil
}

// trickle is the source of BenchmarkLatencyTrickle: burst items as fast as
// emit takes them, then n items one per period, each stamped just before it
// is emitted. It stops early, returning false, when emit does.
type trickle struct {
	burst, n int
	period   time.Duration
}

func (tr trickle) run(emit func(stamped) bool) bool {
	for i := range tr.burst {
		if !emit(stamped{v: i}) {
			return false
		}
	}
	tick := time.NewTicker(tr.period)
	defer tick.Stop()
	for i := range tr.n {
		<-tick.C
		if !emit(stamped{v: tr.burst + i, at: time.Now()}) {
			return false
		}
	}
	return true
}

// want is the sum of stampAdd1 over every item.
func (tr trickle) want() int {
	n := tr.burst + tr.n
	return n*(n-1)/2 + n
}

// latencies collects the time from emit to sink of the trickle's items.
type latencies []time.Duration

func (l *latencies) record(s stamped) {
	if !s.at.IsZero() {
		*l = append(*l, time.Since(s.at))
	}
}

// report reports the median and the 99th percentile (nearest rank), in µs.
func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		b.Fatal("no latency recorded")
	}
	s := slices.Sorted(slices.Values(l))
	rank := func(p float64) time.Duration { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	b.ReportMetric(float64(rank(0.50))/1e3, "p50-us")
	b.ReportMetric(float64(rank(0.99))/1e3, "p99-us")
}

// BenchmarkLatencyTrickle measures how long an item takes from source to
// sink when items come slowly: one every millisecond (size(200) of them),
// after a burst of size(10_000) cheap items that lets a chunked transport
// grow its chunks to their largest first. Each item goes through a cheap
// map (+1) on 2 workers; the sink records time.Since(emit) for the trickle's
// items and sums every item, which is checked. Reported: the median and
// 99th percentile latency over every iteration's trickle, in µs (ns/op is
// the wall time of a run, made of the trickle's sleeps).
//
// Variants: ParMap(2) unordered and ordered; the fused Map (no goroutine
// hop: the floor); the hand-written pipeline with channels of 64 and 2
// workers, as in the other workloads.
func BenchmarkLatencyTrickle(b *testing.B) {
	const workers = 2
	tr := trickle{burst: size(10_000), n: size(200), period: time.Millisecond}
	want := tr.want()
	bench := func(name string, body func(*latencies) (int, error)) {
		b.Run(name, func(b *testing.B) {
			lat := make(latencies, 0, tr.n)
			for b.Loop() {
				got, err := body(&lat)
				if err != nil {
					b.Fatal(err)
				}
				if got != want {
					b.Fatalf("got %d, want %d", got, want)
				}
			}
			lat.report(b)
		})
	}
	conveyor := func(stage func(*pipeline.Pipeline) *pipeline.Pipeline) func(*latencies) (int, error) {
		return func(lat *latencies) (int, error) {
			sum := 0
			src := source.Func(func(_ context.Context, yield func(stamped) bool) error {
				tr.run(yield)
				return nil
			})
			st := stage(pipeline.New(src)).Sink(sink.Func(func(_ context.Context, s stamped) error {
				lat.record(s)
				sum += s.v
				return nil
			})).Run(context.Background())
			if !st.OK() {
				return 0, fmt.Errorf("conveyor: %v", st)
			}
			return sum, nil
		}
	}

	for _, order := range []string{"unordered", "ordered"} {
		var opts []stage.Option
		if order == "ordered" {
			opts = append(opts, stage.Ordered())
		}
		bench(fmt.Sprintf("conveyor/parmap-%d/%s", workers, order), conveyor(func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.ParMap(workers, stage.Func(stampAdd1), opts...)
		}))
	}
	bench("conveyor/map", conveyor(func(p *pipeline.Pipeline) *pipeline.Pipeline {
		return p.Map(stage.Func(stampAdd1))
	}))
	h := hand{buf: 64}
	bench(h.name(), func(lat *latencies) (int, error) {
		g, ctx := errgroup.WithContext(context.Background())
		in := make(chan stamped, h.buf)
		g.Go(func() error {
			defer close(in)
			tr.run(func(s stamped) bool { in <- s; return true })
			return nil
		})
		sum := 0
		for s := range mapStage(ctx, h, g, in, workers, stampAdd1) {
			lat.record(s)
			sum += s.v
		}
		return sum, g.Wait()
	})
}
