//go:build linux

package textsrc_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// benchLines is how many lines each run of BenchmarkLines reads: 64-byte
// lines, 6.25 MiB in all.
const benchLines = 100_000

// BenchmarkLines measures Lines in ns/line over the kinds of reader it
// treats differently: one it reads directly (bytes.Reader), one it reads
// through a goroutine of its own (any other io.Reader), and pipes.
func BenchmarkLines(b *testing.B) {
	line := strings.Repeat("x", 63) + "\n"
	data := []byte(strings.Repeat(line, benchLines))
	// opaque hides the reader's type: Lines knows nothing of it.
	type opaque struct{ io.Reader }
	// piped returns the read end of a pipe that a goroutine fills with
	// data and then closes; blocking says whether it is in blocking mode.
	piped := func(b *testing.B, blocking bool) io.Reader {
		var r, w *os.File
		if blocking {
			var fds [2]int
			if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
				b.Fatal(err)
			}
			r, w = os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
		} else {
			var err error
			if r, w, err = os.Pipe(); err != nil {
				b.Fatal(err)
			}
		}
		go func() {
			_, _ = w.Write(data)
			_ = w.Close()
		}()
		b.Cleanup(func() { _ = r.Close() })
		return r
	}
	for _, bc := range []struct {
		name   string
		reader func(*testing.B) io.Reader
	}{
		{"bytes.Reader", func(*testing.B) io.Reader { return bytes.NewReader(data) }},
		{"opaque io.Reader", func(*testing.B) io.Reader { return opaque{bytes.NewReader(data)} }},
		{"os.Pipe", func(b *testing.B) io.Reader { return piped(b, false) }},
		{"blocking pipe", func(b *testing.B) io.Reader { return piped(b, true) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				r := bc.reader(b)
				b.StartTimer()
				st := pipeline.New(textsrc.Lines(r, "bench"), pipeline.WithoutMetrics()).
					Sink(sink.Discard[textsrc.Line]()).Run(context.Background())
				if st.Code != pipeline.CodeSuccess || st.Counts.Done != benchLines {
					b.Fatal(st)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLines), "ns/line")
		})
	}
}
