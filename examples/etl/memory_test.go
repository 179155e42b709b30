//go:build !race

package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/textsink"
)

// The clean job's memory does not grow with its input: streaming 10 times
// the rows, what stays live peaks at about the same.
//
// The live heap is read after a full garbage collection forced from inside
// the run, every 25,000 orders, by a Tap after enrich: while it collects,
// the pipeline before it fills its bounded buffers and waits, so the
// reading is what the run holds, and does not depend on when the collector
// happens to run. (The peak of /gc/heap/live sampled from outside, as main
// prints, also counts what is allocated while a collection marks, which on
// a busy machine can be many MiB: it is logged here, not checked.)
//
// Not under -race (see race_on_test.go), nor with -short.
func TestCleanMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 550,000 rows")
	}
	const every = 25_000
	dir := t.TempDir()
	s := newStages(4)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	run := func(rows int) (held uint64) {
		in := filepath.Join(dir, fmt.Sprintf("orders-%d.csv", rows))
		require.NoError(t, generate(in, rows, 10_000, 1))
		n := 0
		p := s.clean(in, pipeline.OnError(textsink.DeadLetters(io.Discard))).
			Tap(func(Order) {
				if n++; n%every == 0 {
					runtime.GC()
					metrics.Read(live)
					held = max(held, live[0].Value.Uint64())
				}
			}).
			Sink(textsink.JSONL[Order](io.Discard))
		r := measure("clean", func() pipeline.ExitStatus { return p.Run(t.Context()) })
		require.True(t, r.status.OK(), r.status.Message)
		require.Equal(t, int64(rows), r.status.Counts.In)
		t.Logf("%d rows: %.2f MiB live at most after a collection; sampled: peak heap %.1f MiB, peak live %.1f MiB",
			rows, mib(held), mib(r.peakHeap), mib(r.peakLive))
		return held
	}
	small, large := run(50_000), run(500_000)
	// A leak of 4 bytes per row would be 1.7 MiB more.
	assert.LessOrEqual(t, mib(large), mib(small)*1.1+1, "the live heap grows with the input")
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
