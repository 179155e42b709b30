package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// canned is go test -bench output as the suite prints it, cut down: three
// runs, GOMAXPROCS 2, a name that ends in digits of its own, an extra
// metric, an ordered/unordered pair, and noise between the lines.
const canned = `goos: linux
goarch: amd64
pkg: github.com/conveyor-go/conveyor/benchmarks
cpu: Test CPU @ 1GHz
BenchmarkW1OneMap/loop-2         	     652	   2000000 ns/op	         0 allocs/item	  1.00 cores	 500000000 items/s	         2.000 ns/item	       0 B/op	       0 allocs/op
BenchmarkW1OneMap/chans/buffered-64-2        	       4	 100000000 ns/op	 0.01 allocs/item	 1.10 cores	 10000000 items/s	 100.0 ns/item	    3580 B/op	      26 allocs/op
BenchmarkW1OneMap/conveyor/parmap-1/unordered-2	3	 400000000 ns/op	 0.03 allocs/item	 1.20 cores	 2500000 items/s	 400.0 ns/item	 100 B/op	 60 allocs/op
BenchmarkW1OneMap/conveyor/parmap-1/ordered-2	2	 600000000 ns/op	 0.04 allocs/item	 1.30 cores	 1666667 items/s	 600.0 ns/item	 100 B/op	 62 allocs/op
BenchmarkW1OneMap/loop-2         	     652	   2000000 ns/op	         0 allocs/item	  1.00 cores	 333333333 items/s	         3.000 ns/item	       0 B/op	       0 allocs/op
BenchmarkW1OneMap/chans/buffered-64-2        	       4	 100000000 ns/op	 0.01 allocs/item	 1.30 cores	 8333333 items/s	 120.0 ns/item	    3580 B/op	      26 allocs/op
BenchmarkW1OneMap/conveyor/parmap-1/unordered-2	3	 400000000 ns/op	 0.03 allocs/item	 1.20 cores	 2500000 items/s	 400.0 ns/item	 100 B/op	 60 allocs/op
BenchmarkW1OneMap/conveyor/parmap-1/ordered-2	2	 600000000 ns/op	 0.04 allocs/item	 1.30 cores	 1666667 items/s	 600.0 ns/item	 100 B/op	 62 allocs/op
some log line a benchmark printed
BenchmarkW1OneMap/loop-2         	     652	   2000000 ns/op	         0 allocs/item	  1.00 cores	 1000000000 items/s	         1.000 ns/item	       0 B/op	       0 allocs/op
BenchmarkW1OneMap/chans/buffered-64-2        	       4	 100000000 ns/op	 0.01 allocs/item	 1.20 cores	 12500000 items/s	 80.00 ns/item	    3580 B/op	      26 allocs/op
BenchmarkW1OneMap/conveyor/parmap-1/unordered-2	3	 400000000 ns/op	 0.03 allocs/item	 1.20 cores	 2500000 items/s	 400.0 ns/item	 100 B/op	 60 allocs/op
BenchmarkW1OneMap/conveyor/parmap-1/ordered-2	2	 600000000 ns/op	 0.04 allocs/item	 1.30 cores	 1666667 items/s	 600.0 ns/item	 100 B/op	 62 allocs/op
BenchmarkW3CPU/loop-2	1	100 ns/op	1000 ns/item	49.9 eff%
BenchmarkW3CPU/chans/buffered-64-2	1	100 ns/op	700 ns/item	71.4 eff%
BenchmarkW3CPU/chans/buffered-64-2	1	100 ns/op	800 ns/item	62.5 eff%
--- FAIL: BenchmarkBroken
PASS
ok  	github.com/conveyor-go/conveyor/benchmarks	14.521s
`

func TestParse(t *testing.T) {
	res := parse(strings.NewReader(canned))
	if res.cpu != "Test CPU @ 1GHz" {
		t.Errorf("cpu = %q", res.cpu)
	}
	if res.runs != 3 {
		t.Errorf("runs = %d, want 3", res.runs)
	}
	if len(res.workloads) != 2 || res.workloads[0].name != "W1OneMap" || res.workloads[1].name != "W3CPU" {
		t.Fatalf("workloads = %v", res.workloads)
	}
	w1 := res.workloads[0]
	var names []string
	for _, v := range w1.variants {
		names = append(names, v.name)
	}
	want := "loop chans/buffered-64 conveyor/parmap-1/unordered conveyor/parmap-1/ordered"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("variants = %q, want %q (in order of appearance, the -2 dropped, the -64 kept)", got, want)
	}
	if got := w1.variant("loop").median("ns/item"); got != 2 {
		t.Errorf("median loop ns/item = %v, want 2 (of 2, 3, 1)", got)
	}
	if got := w1.variant("chans/buffered-64").median("cores"); got != 1.2 {
		t.Errorf("median cores = %v, want 1.2", got)
	}
	if got := w1.variant("loop").median("eff%"); !math.IsNaN(got) {
		t.Errorf("median of a missing unit = %v, want NaN", got)
	}
	if got := res.workloads[1].variant("chans/buffered-64").median("eff%"); got != 66.95 {
		t.Errorf("median of two = %v, want their mean 66.95", got)
	}
}

func TestParseKeepsSuffixesThatAreNotGOMAXPROCS(t *testing.T) {
	// GOMAXPROCS=1: go test adds no suffix, and -64 belongs to the name.
	res := parse(strings.NewReader("BenchmarkW1/loop\t1\t5 ns/item\nBenchmarkW1/chans/buffered-64\t1\t9 ns/item\n"))
	if v := res.workloads[0].variant("chans/buffered-64"); v == nil {
		t.Fatalf("chans/buffered-64 lost its suffix: %+v", res.workloads[0].variants[1])
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9, 1, 8, 2, 7}, 7},
	} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestRender(t *testing.T) {
	var b strings.Builder
	render(&b, parse(strings.NewReader(canned)))
	out := b.String()
	for _, want := range []string{
		"Medians of 3 runs on Test CPU @ 1GHz",
		"### W1OneMap: 1M ints, one Map (+1), 1 worker, summing sink",
		"| variant | ns/item | items/s | allocs/item | cores | vs chans/buffered-64 | vs loop | ordered / unordered |",
		// median ns/item 2, items/s 500M; 2/100 of the channels, 1x the loop.
		"| loop | 2.00 | 500M | 0.00 | 1.00 | 0.02x | 1.00x |  |",
		"| chans/buffered-64 | 100 | 10.0M | 0.01 | 1.20 | 1.00x | 50.0x |  |",
		// the ordered twin: 600 / 400 = 1.50x.
		"| conveyor/parmap-1/ordered | 600 | 1.67M | 0.04 | 1.30 | 6.00x | 300x | 1.50x |",
		// W3 has an extra column, no ordered one, and only the standard
		// columns its variants report.
		"| variant | ns/item | vs chans/buffered-64 | vs loop | eff% |",
		"| chans/buffered-64 | 750 | 1.00x | 0.75x | 67.0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; it is:\n%s", want, out)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{number(1.834), "1.83"},
		{number(78.24), "78.2"},
		{number(513.4), "513"},
		{number(1074.4), "1,074"},
		{number(1234567), "1,234,567"},
		{si(837), "837"},
		{si(1.5e6), "1.50M"},
		{si(494.7e6), "495M"},
		{si(2.1e9), "2.10G"},
		{ratio(171, 78), "2.19x"},
		{ratio(1, 0), "–"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestRenderDistributed reads saved output of the scale-out benchmarks of
// examples/distributed (five interleaved runs of benchtable -dir
// ../examples/distributed -bench 'ScaleOut|WorkerProcesses' -benchtime 1x,
// as -in reads it) and checks their tables: only the columns they report,
// and each variant's jobs/s, p50-ms and p99-ms as a ratio to its
// hand-written twin.
func TestRenderDistributed(t *testing.T) {
	saved, err := readInput("testdata/distributed.txt")
	if err != nil {
		t.Fatal(err)
	}
	res := parse(bytes.NewReader(saved))
	if res.runs != 5 {
		t.Errorf("runs = %d, want 5", res.runs)
	}
	var b strings.Builder
	render(&b, res)
	out := b.String()
	for _, want := range distributedTable {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; it is:\n%s", want, out)
		}
	}
}

// distributedTable is lines of the tables of testdata/distributed.txt.
var distributedTable = []string{
	"Medians of 5 runs on Oxide Virtual Turin-like Processor",
	// No ns/item, items/s or allocs/item: they report none; cores, then
	// their own units in the preferred order, then the ratio.
	"| variant | cores | jobs/s | jobs/s-to-end | end-ms | allocs/job | cpu-us/job | jobs/s / handwritten |",
	"| jobs=50k/handwritten | 0.89 | 30,768 | 30,767 | 0.00 | 79.1 | 31.0 |  |",
	"| jobs=50k/conveyor-fetch256-pending1024 | 1.47 | 41,152 | 16,619 | 1,794 | 86.7 | 35.5 | 1.34x |",
	"| jobs=1M/conveyor | 1.27 | 27,014 | 26,372 | 900 | 90.1 | 46.9 | 0.89x |",
	// The twin is the hand-written worker with as many processes.
	"| procs=2/conveyor | 23,202 | 0.60x |",
	"| procs=4/conveyor | 29,876 | 0.99x |",
	"| variant | p50-ms | p99-ms | p50-ms / handwritten | p99-ms / handwritten |",
	"| conveyor | 0.33 | 2.86 | 1.07x | 0.87x |",
	// No twin: no ratio column.
	"| variant | ns/item | items/s | ceiling% | sleep-us |",
	"| procs=4 | 71,950 | 13.9k | 95.1 | 2,019 |",
}
