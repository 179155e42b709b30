//go:build linux && !race

package textsrc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// The CSV memory test runs each hostile input in a process of its own (a
// job of this test binary, see TestMain) and reads its peak RSS from the
// kernel (ru_maxrss, in KiB on Linux), which no soft limit of the Go
// runtime can hide. It is built without -race, whose shadow memory would
// be measured too.

const (
	// csvMemoryInputEnv names the input a CSV memory job reads.
	csvMemoryInputEnv = "CONVEYOR_TEXTSRC_CSV_MEMORY_INPUT"
	// csvMemoryShiftEnv, when set to k, divides the hostile inputs' sizes
	// by 2^k: it measures code whose memory grows with its input without
	// taking the machine's (the measurement before the limits were
	// enforced was taken so). The error texts are checked only at k = 0.
	csvMemoryShiftEnv = "CONVEYOR_TEXTSRC_MEMORY_SHIFT"
	// csvMemorySlack is how far above the baseline's peak RSS a hostile
	// input's may go.
	csvMemorySlack = 64 << 20
	// csvMemoryCeiling is the address space a job may map: a regression
	// fails it ("fatal error: out of memory") instead of taking the memory
	// of a shared machine.
	csvMemoryCeiling = 3 << 30
)

func init() { jobs["csv-memory"] = csvMemoryJob }

// csvMemoryResult is what a CSV memory job prints, and its peak RSS.
type csvMemoryResult struct {
	Code    int     `json:"code"`
	Err     string  `json:"err"`
	Stage   string  `json:"stage"`
	Target  string  `json:"target"`
	In      int64   `json:"in"`
	Seconds float64 `json:"seconds"`
	peak    int64   // bytes
}

// TestCSVMemory checks that no CSV row makes the source hold more than the
// baseline's peak RSS plus 64 MiB, and that each hostile row fails the run
// (code 1, the default policy) with an error naming file:line: a row of
// 100M fields and 200 MB, over MaxLineBytes; a row of 10M one-byte fields
// (20 MB) under a MaxLineBytes raised to 32 MiB, over MaxFields; a row of
// two fields and 200 MB; and a quote left open before 200 MB of lines,
// which ends with the line where it goes over MaxLineBytes. The inputs are
// made as they are read, and run one at a time.
func TestCSVMemory(t *testing.T) {
	shift := csvMemoryShift(t)
	base := runCSVMemoryJob(t, "baseline")
	require.Equal(t, pipeline.CodeSuccess, base.Code, base.Err)
	t.Logf("baseline: peak RSS %.1f MiB", float64(base.peak)/(1<<20))

	for _, c := range []struct{ input, want, target string }{
		{"wide", "wide.csv:2: record is longer than 16 MiB (MaxLineBytes)", "wide.csv:2"},
		{"fields", "fields.csv:2: record has more than 100,000 fields (MaxFields)", "fields.csv:2"},
		{"long", "long.csv:2: record is longer than 16 MiB (MaxLineBytes)", "long.csv:2"},
		// The row starts with `1,"` and goes on with lines of 8 bytes:
		// its 16,777,216th byte is on line 2,097,153.
		{"quote", "quote.csv:2-2097153: record is longer than 16 MiB (MaxLineBytes)", "quote.csv:2-2097153"},
	} {
		t.Run(c.input, func(t *testing.T) {
			r := runCSVMemoryJob(t, c.input)
			t.Logf("%s: peak RSS %.1f MiB (baseline + %.1f MiB), code %d in %.1fs, %d items: %s",
				c.input, float64(r.peak)/(1<<20), float64(r.peak-base.peak)/(1<<20), r.Code, r.Seconds, r.In, r.Err)
			assert.LessOrEqual(t, r.peak, base.peak+csvMemorySlack, "peak RSS over the baseline + 64 MiB")
			if shift != 0 {
				return
			}
			assert.Equal(t, pipeline.CodeFailure, r.Code, r.Err)
			assert.Contains(t, r.Err, c.want)
			assert.Equal(t, "decode-csv", r.Stage)
			assert.Equal(t, c.target, r.Target)
		})
	}
}

// runCSVMemoryJob runs the CSV memory job on input in a child process and
// returns what it printed and its peak RSS.
func runCSVMemoryJob(t *testing.T, input string) csvMemoryResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), jobEnv+"=csv-memory", csvMemoryInputEnv+"="+input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	tail := stderr.String()
	if len(tail) > 2000 {
		tail = tail[:2000]
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	require.NoError(t, err, "the %s job (peak RSS %d MiB): %s", input, peak>>20, tail)
	var r csvMemoryResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r), "the %s job printed %q; stderr: %s", input, stdout.String(), tail)
	r.peak = peak
	return r
}

// csvMemoryJob is the child process of runCSVMemoryJob: it reads its
// input through CSV and DecodeCSV, under the default policy, and prints
// how the run ended.
func csvMemoryJob() int {
	// A regression must not take a shared machine's memory.
	lim := syscall.Rlimit{Cur: csvMemoryCeiling, Max: csvMemoryCeiling}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		return 2
	}
	shift, err := strconv.Atoi("0" + os.Getenv(csvMemoryShiftEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, csvMemoryShiftEnv+":", err)
		return 2
	}
	type row struct{ A, B string }
	run := func(src io.Reader, name string, opts ...textsrc.Option) pipeline.ExitStatus {
		return pipeline.New(textsrc.CSV(src, name, opts...)).
			Via(textsrc.DecodeCSV[row]()).
			Sink(sink.Discard[row]()).
			Run(context.Background())
	}
	start := time.Now()
	var st pipeline.ExitStatus
	switch in := os.Getenv(csvMemoryInputEnv); in {
	case "baseline":
		st = run(strings.NewReader("a,b\nx,x\n"), "tiny.csv")
	case "wide":
		// A row of 100M fields "x", 200 MB, after the header.
		st = run(fieldsRow(100_000_000>>shift), "wide.csv")
	case "fields":
		// A row of 10M fields "x", 20 MB, within a raised MaxLineBytes.
		st = run(fieldsRow(10_000_000>>shift), "fields.csv", textsrc.MaxLineBytes(32<<20))
	case "long":
		// A row of two fields, 200 MB.
		st = run(generated(`1,`, "x", 200_000_000>>shift, "\n"), "long.csv")
	case "quote":
		// A quote left open, then 200 MB of lines.
		st = run(generated(`1,"`, "xxxxxxx\n", 200_000_000>>shift, ""), "quote.csv")
	default:
		fmt.Fprintf(os.Stderr, "no CSV memory input %q\n", in)
		return 2
	}
	r := csvMemoryResult{Code: st.Code, Stage: st.Stage, Target: st.Target, In: st.Counts.In, Seconds: time.Since(start).Seconds()}
	if st.Err != nil {
		r.Err = st.Err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 2
	}
	return 0
}

// csvMemoryShift returns the shift csvMemoryShiftEnv sets, 0 by default.
func csvMemoryShift(t *testing.T) int {
	k, err := strconv.Atoi("0" + os.Getenv(csvMemoryShiftEnv))
	require.NoError(t, err, csvMemoryShiftEnv)
	return k
}

// fieldsRow returns a reader of the header "a,b" and a row of n fields
// "x".
func fieldsRow(n int64) io.Reader { return generated("", "x,", 2*(n-1), "x\n") }

// generated returns a reader of the header "a,b", then prefix, n bytes of
// s over and over, and suffix, made as it is read: an input of any size
// that takes no memory. It is not one of the readers the sources know, so
// they read it as an arbitrary io.Reader.
func generated(prefix, s string, n int64, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader("a,b\n"+prefix), io.LimitReader(&cycle{s: s}, n), strings.NewReader(suffix))
}

// cycle reads as s, over and over.
type cycle struct {
	s   string
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.s[c.off]
		c.off = (c.off + 1) % len(c.s)
	}
	return len(p), nil
}
