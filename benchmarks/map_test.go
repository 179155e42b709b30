package benchmarks

import (
	"context"
	"runtime"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

const items = 100_000

func inc(_ context.Context, v int) (int, error) { return v + 1, nil }

// BenchmarkOneMap is workload W1: ints through one Map into a counting sink.
func BenchmarkOneMap(b *testing.B) {
	nums := make([]int, items)
	b.Run("loop", func(b *testing.B) {
		var sum int
		for b.Loop() {
			for _, v := range nums {
				r, _ := inc(context.Background(), v)
				sum += r
			}
		}
		runtime.KeepAlive(sum)
		perItem(b, items)
	})
	b.Run("channels-buffered-64", func(b *testing.B) {
		for b.Loop() {
			handWritten(nums, 64)
		}
		perItem(b, items)
	})
	b.Run("conveyor-map", func(b *testing.B) {
		var sum int
		p := pipeline.New(source.Slice(nums)).Map(stage.Func(inc)).
			Sink(sink.Func(func(_ context.Context, v int) error { sum += v; return nil }))
		for b.Loop() {
			if st := p.Run(context.Background()); st.Code != 0 {
				b.Fatal(st)
			}
		}
		perItem(b, items)
	})
	b.Run("conveyor-parmap-1", func(b *testing.B) {
		var sum int
		p := pipeline.New(source.Slice(nums)).ParMap(1, stage.Func(inc)).
			Sink(sink.Func(func(_ context.Context, v int) error { sum += v; return nil }))
		for b.Loop() {
			if st := p.Run(context.Background()); st.Code != 0 {
				b.Fatal(st)
			}
		}
		perItem(b, items)
	})
}

// handWritten is the errgroup-style pipeline people write by hand: a
// producer, one worker and a consumer joined by buffered channels.
func handWritten(nums []int, buffer int) int {
	in := make(chan int, buffer)
	out := make(chan int, buffer)
	go func() {
		defer close(in)
		for _, v := range nums {
			in <- v
		}
	}()
	go func() {
		defer close(out)
		for v := range in {
			r, _ := inc(context.Background(), v)
			out <- r
		}
	}()
	sum := 0
	for v := range out {
		sum += v
	}
	return sum
}
