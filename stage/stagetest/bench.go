// Package stagetest helps users test and measure their own stages.
//
// Benchmark runs one stage, or a sub-chain made with stage.Chain, in a
// testing.B benchmark and reports what an item costs:
//
//	func BenchmarkParse(b *testing.B) {
//		stagetest.Benchmark(b, stage.Map(parse), lines)
//	}
//
// prints, besides the usual ns/op, ns/item, items/s and allocs/item.
package stagetest

import (
	"runtime"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// Benchmark measures stage s on items. Each iteration of b runs all of
// items through s, from a slice source to a sink that discards the
// results, as one pipeline run; the report adds ns/item, items/s and
// allocs/item (heap allocations per item, run set-up included) to b's.
//
// The pipeline runs with opts, under b's context. A run that does not
// succeed (a bad stage, an item that fails under the fail-fast policy)
// fails the benchmark with the run's message. items must not be empty.
func Benchmark[In, Out any](b *testing.B, s *stage.Of[In, Out], items []In, opts ...pipeline.Option) {
	b.Helper()
	if len(items) == 0 {
		b.Fatal("stagetest.Benchmark: no items to run")
	}
	p := pipeline.New(source.Slice(items), opts...).Via(s).Sink(sink.Discard[Out]())
	if st := p.Run(b.Context()); !st.OK() {
		b.Fatalf("stagetest.Benchmark: %s", st)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	runs := 0
	for b.Loop() {
		if st := p.Run(b.Context()); !st.OK() {
			b.Fatalf("stagetest.Benchmark: %s", st)
		}
		runs++
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(runs) * float64(len(items))
	elapsed := b.Elapsed()
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/item")
	b.ReportMetric(n/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/item")
}
