package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/internal/heappeak"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// record is the item of BenchmarkMemoryStream: 64 bytes, moved by value.
type record struct {
	id      int64
	payload [7]int64
}

func scaleRecord(_ context.Context, r record) (record, error) {
	r.payload[0] = r.id * 3
	return r, nil
}

// BenchmarkMemoryStream streams 1M and 10M records of 64 bytes from a
// generator through ParMap(4, a cheap function) into a sink that burns about
// 200 ns of CPU per item, so that the sink is the bottleneck and ParMap's
// buffers stay full, and reports besides measure's metrics the peak heap
// seen during the timed loop, sampled every millisecond after a
// runtime.GC() (see heappeak.Start): peak-heap-KiB, what the heap held, garbage
// included, and peak-live-KiB, what was retained. Bounded buffers mean
// neither depends on the length of the stream: 10M should peak within 10%
// of 1M.
//
// Under -items both sizes are cut to the cap, so the two sub-benchmarks
// keep their names but stream the same count.
func BenchmarkMemoryStream(b *testing.B) {
	const workers = 4
	burn := newBurner(200 * time.Nanosecond)
	for _, full := range []int{1_000_000, 10_000_000} {
		n := size(full)
		want := 0
		for i := range n {
			r, _ := burn.Handle(context.Background(), i*3)
			want += r
		}
		b.Run(fmt.Sprintf("items=%dM", full/1_000_000), func(b *testing.B) {
			sum := 0
			src := source.Func(func(_ context.Context, yield func(record) bool) error {
				for i := range n {
					if !yield(record{id: int64(i)}) {
						return nil
					}
				}
				return nil
			})
			p := pipeline.New(src).
				ParMap(workers, stage.Func(scaleRecord)).
				Sink(sink.Func(func(ctx context.Context, r record) error {
					v, err := burn.Handle(ctx, int(r.payload[0]))
					sum += v
					return err
				}))
			runtime.GC()
			stop := heappeak.Start()
			measure(b, n, want, func() (int, error) {
				sum = 0
				if st := p.Run(context.Background()); !st.OK() {
					return 0, fmt.Errorf("conveyor: %v", st)
				}
				return sum, nil
			})
			objects, live := stop()
			b.ReportMetric(float64(objects)/1024, "peak-heap-KiB")
			b.ReportMetric(float64(live)/1024, "peak-live-KiB")
		})
	}
}
