// Command benchtable runs the benchmark suite and prints one markdown table
// per workload: the median over -count runs of each variant's ns/item,
// items/s, allocs/item and cores (those it reports), its ns/item as a
// multiple of the hand-written buffered-64 pipeline's and of the loop's,
// the workload's own metrics (eff%, ceiling%, jobs/s, p50-ms, ...) and,
// for variants run ordered and unordered or with and without metrics, what
// ordering and metrics cost. A variant X/v with a twin X/handwritten (the
// scale-out benchmarks of examples/distributed) gets its jobs/s, p50-ms
// and p99-ms as a ratio to the twin's.
//
// It builds the test binary once and runs it -count times with
// -test.count 1, so that the variants' runs interleave and a slow moment
// of a shared machine does not fall on one variant's runs. Run it from the
// benchmarks module:
//
//	cd benchmarks
//	go run ./cmd/benchtable                      # everything, -count 5 (~8 min)
//	go run ./cmd/benchtable -bench W3 -count 3   # one workload
//	go run ./cmd/benchtable -in bench.txt        # tables from saved go test output
//	go run ./cmd/benchtable -dir ../examples/distributed -bench 'ScaleOut|WorkerProcesses' -benchtime 1x -count 5
//
// The last is the scale-out path, side by side with the hand-written
// nats.go worker (about 25 min; -bench 'ScaleOutWorker/jobs=50k' for a
// quick look).
//
// The raw test output goes to stderr as it comes, the tables to stdout.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

func main() {
	bench := flag.String("bench", ".", "regexp of the benchmarks to run, as go test -bench")
	count := flag.Int("count", 5, "runs of each benchmark; the tables show medians")
	benchtime := flag.String("benchtime", "", "go test -benchtime (default: go test's)")
	items := flag.Int("items", 0, "cap on the items of every workload (0: the full sizes)")
	dir := flag.String("dir", ".", "directory of the benchmarks module")
	in := flag.String("in", "", "read saved go test -bench output from this file (- for stdin) instead of running")
	flag.Parse()

	var out []byte
	var err error
	if *in != "" {
		out, err = readInput(*in)
	} else {
		out, err = runSuite(*dir, *bench, *count, *benchtime, *items)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	res := parse(bytes.NewReader(out))
	res.capped = *items
	if len(res.workloads) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results")
		os.Exit(1)
	}
	render(os.Stdout, res)
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// runSuite builds the test binary of dir, runs it count times with
// -test.count 1, copying its output to stderr as it comes, and returns that
// output.
func runSuite(dir, bench string, count int, benchtime string, items int) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "benchtable-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bench.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = dir, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go test -c: %w", err)
	}
	args := []string{"-test.run", "^$", "-test.bench", bench, "-test.count", "1", "-test.benchmem", "-test.timeout", "0"}
	if benchtime != "" {
		args = append(args, "-test.benchtime", benchtime)
	}
	if items > 0 {
		args = append(args, "-items", strconv.Itoa(items))
	}
	var buf bytes.Buffer
	for i := 1; i <= count; i++ {
		fmt.Fprintf(os.Stderr, "run %d of %d: %s %s\n", i, count, bin, strings.Join(args, " "))
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Stdout = io.MultiWriter(os.Stderr, &buf)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("run %d of the benchmarks: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

// results are the parsed benchmark lines, in the order they first appeared.
type results struct {
	cpu       string // go test's "cpu:" header, if any
	runs      int    // the most samples of any variant
	capped    int    // the -items cap the suite ran with, 0 if none
	workloads []*workload
}

type workload struct {
	name     string // W1OneMap
	variants []*variant
}

type variant struct {
	name    string               // conveyor/parmap-1/ordered
	samples map[string][]float64 // unit -> one value per run
	units   []string             // in the order of the line
}

func (w *workload) variant(name string) *variant {
	for _, v := range w.variants {
		if v.name == name {
			return v
		}
	}
	return nil
}

// median returns the median of unit, or NaN if the variant did not report it.
func (v *variant) median(unit string) float64 {
	if v == nil {
		return math.NaN()
	}
	return median(v.samples[unit])
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output. A benchmark line is the name, the
// iterations, then value-unit pairs; other lines are ignored. go test adds
// -GOMAXPROCS to every name (unless it is 1), so a suffix -N common to every
// line is dropped; a suffix that is not common is part of the name.
func parse(r io.Reader) results {
	type line struct {
		name   string
		fields []string
	}
	var lines []line
	var res results
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		text := sc.Text()
		if cpu, ok := strings.CutPrefix(text, "cpu: "); ok {
			res.cpu = strings.TrimSpace(cpu)
			continue
		}
		f := strings.Fields(text)
		if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		lines = append(lines, line{f[0], f[2:]})
	}

	suffix := ""
	for i, l := range lines {
		s := procSuffix.FindString(l.name)
		if i == 0 {
			suffix = s
		} else if s != suffix {
			suffix = ""
			break
		}
	}

	for _, l := range lines {
		name := strings.TrimPrefix(strings.TrimSuffix(l.name, suffix), "Benchmark")
		wname, vname, _ := strings.Cut(name, "/")
		if vname == "" {
			vname = wname
		}
		w := res.workload(wname)
		v := w.variant(vname)
		if v == nil {
			v = &variant{name: vname, samples: map[string][]float64{}}
			w.variants = append(w.variants, v)
		}
		for i := 0; i+1 < len(l.fields); i += 2 {
			x, err := strconv.ParseFloat(l.fields[i], 64)
			if err != nil {
				continue
			}
			unit := l.fields[i+1]
			if _, seen := v.samples[unit]; !seen {
				v.units = append(v.units, unit)
			}
			v.samples[unit] = append(v.samples[unit], x)
			res.runs = max(res.runs, len(v.samples[unit]))
		}
	}
	return res
}

func (r *results) workload(name string) *workload {
	for _, w := range r.workloads {
		if w.name == name {
			return w
		}
	}
	w := &workload{name: name}
	r.workloads = append(r.workloads, w)
	return w
}

// The reference variants of the ratio columns. In W5 every variant is
// ordered or unordered, and the unordered one is the reference.
const (
	refChans = "chans/buffered-64"
	refLoop  = "loop"
)

func (w *workload) ref(name string) *variant {
	if v := w.variant(name); v != nil {
		return v
	}
	return w.variant(name + "/unordered")
}

// A pairing is a ratio column between variants that differ in one
// setting: twin returns the reference twin of a variant, or nil.
type pairing struct {
	title string
	twin  func(w *workload, v *variant) *variant
}

var pairings = []pairing{
	// X/ordered against X/unordered: what keeping the order costs.
	{"ordered / unordered", func(w *workload, v *variant) *variant {
		base, ok := strings.CutSuffix(v.name, "/ordered")
		if !ok {
			return nil
		}
		return w.variant(base + "/unordered")
	}},
	// X against X/unmetered: what the per-stage metrics cost.
	{"metered / unmetered", func(w *workload, v *variant) *variant {
		if strings.HasSuffix(v.name, "/unmetered") {
			return nil
		}
		return w.variant(v.name + "/unmetered")
	}},
}

// The columns of the suite's workloads, in a table whose variants report
// them; any other unit a workload reports (eff%, ceiling%, jobs/s, ...)
// gets a column after them, those of preferred first in its order. ns/op,
// B/op and allocs/op are per run of the whole workload and are left out.
var (
	standard  = []string{"ns/item", "items/s", "allocs/item", "cores"}
	preferred = []string{"jobs/s", "jobs/s-to-end", "end-ms", "allocs/job", "cpu-us/job", "p50-ms", "p99-ms", "ceiling%", "sleep-us"}
	skipped   = []string{"ns/op", "B/op", "allocs/op"}
)

// refHand is the last element of the name of a hand-written worker's
// variant: X/v is compared with X/handwritten on each of handUnits.
const refHand = "handwritten"

var handUnits = []string{"jobs/s", "p50-ms", "p99-ms"}

// handTwin returns the hand-written twin of v, or nil.
func (w *workload) handTwin(v *variant) *variant {
	dir, last := "", v.name
	if i := strings.LastIndexByte(v.name, '/'); i >= 0 {
		dir, last = v.name[:i+1], v.name[i+1:]
	}
	if last == refHand {
		return nil
	}
	return w.variant(dir + refHand)
}

// titles describe the workloads the suite defines.
var titles = map[string]string{
	"W1OneMap":       "1M ints, one Map (+1), 1 worker, summing sink",
	"W2ThreeMaps":    "1M ints, three chained Maps, 1 worker each",
	"W3CPU":          "100k items of ~1 µs CPU, 2 workers; eff% = throughput / (2 × loop)",
	"W4Sleep":        "2,000 items sleeping 1 ms, 64 workers; ceiling% = throughput / (64 / mean measured sleep)",
	"W5Order":        "200k items of ~0.1 µs CPU, 2 workers, ordered vs unordered",
	"W6Batch":        "1M ints in batches of 100, consumer sums",
	"LatencyTrickle": "after a burst, one item every 1 ms: time from emit to sink (p50, p99)",
	"MemoryStream":   "1M and 10M 64-byte items through ParMap(4) into a slow-ish sink: peak heap",

	// examples/distributed
	"ScaleOutWorker": "one worker in the benchmark's process, embedded server; ~100 B JSON jobs decoded, transformed, " +
		"published with a Nats-Msg-Id, acked once confirmed; jobs/s to the last result stored, end-ms from it to the worker's return",
	"ScaleOutProcesses": "the same job, 50,000 of them, on 1, 2 and 4 worker processes; jobs/s of all of them",
	"ScaleOutTrickle":   "the same job, one every 1 ms, 3,000 of them: time from publish to the result at the server (p50, p99)",
	"WorkerProcesses": "10,000 jobs of the example's worker processes, each a 1 ms sleep, ParMap(8); " +
		"ceiling% = items/s / (procs × 8 / the mean sleep, sleep-us)",
}

// render writes one markdown table per workload.
func render(out io.Writer, res results) {
	fmt.Fprintf(out, "Medians of %d runs", res.runs)
	if res.cpu != "" {
		fmt.Fprintf(out, " on %s", res.cpu)
	}
	fmt.Fprintf(out, ", GOMAXPROCS=%d, %s.\n", runtime.GOMAXPROCS(0), runtime.Version())
	if res.capped > 0 {
		fmt.Fprintf(out, "Every workload was cut to at most %d items (-items): not the sizes below.\n", res.capped)
	}
	for _, w := range res.workloads {
		fmt.Fprintf(out, "\n### %s", w.name)
		if t, ok := titles[w.name]; ok {
			fmt.Fprintf(out, ": %s", t)
		}
		fmt.Fprint(out, "\n\n")

		var std, extra []string
		for _, v := range w.variants {
			for _, u := range v.units {
				switch {
				case slices.Contains(skipped, u):
				case slices.Contains(standard, u):
					if !slices.Contains(std, u) {
						std = append(std, u)
					}
				case !slices.Contains(extra, u):
					extra = append(extra, u)
				}
			}
		}
		slices.SortFunc(std, func(a, b string) int { return slices.Index(standard, a) - slices.Index(standard, b) })
		slices.SortStableFunc(extra, func(a, b string) int { return rank(a) - rank(b) })
		var pairs []pairing
		for _, p := range pairings {
			if slices.ContainsFunc(w.variants, func(v *variant) bool { return p.twin(w, v) != nil }) {
				pairs = append(pairs, p)
			}
		}
		var hand []string
		if slices.ContainsFunc(w.variants, func(v *variant) bool { return w.handTwin(v) != nil }) {
			for _, u := range handUnits {
				if slices.Contains(extra, u) {
					hand = append(hand, u)
				}
			}
		}
		chans, loop := w.ref(refChans), w.ref(refLoop)

		head := append([]string{"variant"}, std...)
		if chans != nil {
			head = append(head, "vs "+refChans)
		}
		if loop != nil {
			head = append(head, "vs "+refLoop)
		}
		head = append(head, extra...)
		for _, p := range pairs {
			head = append(head, p.title)
		}
		for _, u := range hand {
			head = append(head, u+" / "+refHand)
		}
		fmt.Fprintf(out, "| %s |\n", strings.Join(head, " | "))
		align := make([]string, len(head))
		for i := range align {
			align[i] = "--:"
		}
		align[0] = ":--"
		fmt.Fprintf(out, "|%s|\n", strings.Join(align, "|"))

		for _, v := range w.variants {
			ns := v.median("ns/item")
			row := []string{v.name}
			for _, u := range std {
				switch u {
				case "ns/item":
					row = append(row, number(ns))
				case "items/s":
					row = append(row, si(v.median(u)))
				default:
					row = append(row, fixed(v.median(u)))
				}
			}
			if chans != nil {
				row = append(row, ratio(ns, chans.median("ns/item")))
			}
			if loop != nil {
				row = append(row, ratio(ns, loop.median("ns/item")))
			}
			for _, u := range extra {
				row = append(row, number(v.median(u)))
			}
			for _, p := range pairs {
				cell := ""
				if t := p.twin(w, v); t != nil {
					cell = ratio(ns, t.median("ns/item"))
				}
				row = append(row, cell)
			}
			for _, u := range hand {
				cell := ""
				if t := w.handTwin(v); t != nil {
					cell = ratio(v.median(u), t.median(u))
				}
				row = append(row, cell)
			}
			fmt.Fprintf(out, "| %s |\n", strings.Join(row, " | "))
		}
	}
}

// rank orders the extra columns: those of preferred first, in its order,
// then the others in the order they came.
func rank(unit string) int {
	if i := slices.Index(preferred, unit); i >= 0 {
		return i
	}
	return len(preferred)
}

// number formats x with about three significant digits, and thousands
// separators from 1,000 on.
func number(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x >= 1000:
		return thousands(int64(math.Round(x)))
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// si formats a rate with a k, M or G suffix.
func si(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x >= 1e9:
		return number(x/1e9) + "G"
	case x >= 1e6:
		return number(x/1e6) + "M"
	case x >= 1e3:
		return number(x/1e3) + "k"
	default:
		return number(x)
	}
}

func fixed(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

// ratio formats a/b as a multiple: 2.35x.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return number(a/b) + "x"
}
