//go:build linux && !race

package textsrc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// The memory tests run each hostile input in a process of its own (a job
// of this test binary, see TestMain) and read its peak RSS from the
// kernel (ru_maxrss), which no soft limit of the Go runtime can hide. They
// are built without -race, whose shadow memory would be measured too, and
// on Linux only, where ru_maxrss is in KiB.

const (
	// memoryInputEnv names the input a memory job reads.
	memoryInputEnv = "CONVEYOR_TEXTSRC_MEMORY_INPUT"
	// memoryPathEnv names the file a memory job reads, for the inputs made
	// on disk (the gzip bomb).
	memoryPathEnv = "CONVEYOR_TEXTSRC_MEMORY_PATH"
	// memoryShiftEnv, when set to k, divides the hostile inputs' sizes by
	// 2^k: it measures code whose memory grows with its input without
	// taking the machine's (the measurement before the limits were
	// enforced was taken so).
	memoryShiftEnv = "CONVEYOR_TEXTSRC_MEMORY_SHIFT"
	// memorySlack is how far above the baseline's peak RSS a hostile
	// input's may go.
	memorySlack = 64 << 20
	// memoryCeiling is the address space a memory job may map: a
	// regression fails it ("fatal error: out of memory") instead of taking
	// the memory of a shared machine.
	memoryCeiling = 3 << 30
)

func init() { jobs["memory"] = memoryJob }

// memoryInputs are the inputs a memory job can read, by name: each runs
// the pipeline a user would run on it, its sizes divided by 2^shift, under
// the default policy. The tests of each source add theirs.
var memoryInputs = map[string]func(shift int) pipeline.ExitStatus{
	"baseline": func(int) pipeline.ExitStatus {
		return runLines(textsrc.Lines(strings.NewReader("a\nb\n"), "tiny.txt"))
	},
	// 2 GiB of one line with no newline, from a reader that makes it.
	"line": func(shift int) pipeline.ExitStatus {
		return runLines(textsrc.Lines(repeated("", 2<<30>>shift, ""), "huge.txt"))
	},
	"bomb": func(int) pipeline.ExitStatus {
		return runLines(textsrc.LinesFile(os.Getenv(memoryPathEnv)))
	},
	"bomb-capped": func(int) pipeline.ExitStatus {
		return runLines(textsrc.LinesFile(os.Getenv(memoryPathEnv), textsrc.MaxBytes(64<<20)))
	},
	// One JSON document of 1 GiB on one line, decoded.
	"json": func(shift int) pipeline.ExitStatus {
		src := textsrc.Lines(repeated(`{"v":"`, 1<<30>>shift, "\"}\n"), "huge.jsonl")
		return pipeline.New(src).Via(textsrc.DecodeJSON[struct{ V string }]()).
			Sink(sink.Discard[struct{ V string }]()).Run(context.Background())
	},
}

// runLines runs src into a sink that discards its lines.
func runLines(src *source.Of[textsrc.Line]) pipeline.ExitStatus {
	return pipeline.New(src).Sink(sink.Discard[textsrc.Line]()).Run(context.Background())
}

// memoryCase is one hostile input, and how its run must end.
type memoryCase struct {
	input string // for memoryInputEnv
	gzip  bool   // the input is the gzip bomb, written to a file first
	want  string // in the run's error
}

// memoryResult is what a memory job prints, and its peak RSS.
type memoryResult struct {
	Code    int     `json:"code"`
	Err     string  `json:"err"`
	Stage   string  `json:"stage"`
	Target  string  `json:"target"`
	In      int64   `json:"in"`
	Seconds float64 `json:"seconds"`
	peak    int64   // bytes
}

// TestMemoryOfHostileInputs checks that no input makes a source hold more
// than the baseline's peak RSS plus 64 MiB, and that each hostile input
// ends the run with code 1 and an error naming file:line. Each input runs
// in a child process, one at a time.
func TestMemoryOfHostileInputs(t *testing.T) {
	shift, err := memoryShift()
	require.NoError(t, err)
	base := runMemoryJob(t, "baseline", "")
	require.Equal(t, pipeline.CodeSuccess, base.Code, base.Err)
	t.Logf("baseline: peak RSS %.1f MiB", mib(base.peak))

	bomb := writeBomb(t, 4<<30>>shift) // 4 GiB of one line, once inflated
	fi, err := os.Stat(bomb)
	require.NoError(t, err)
	t.Logf("the gzip bomb is %.1f MB on disk", float64(fi.Size())/1e6)

	for _, c := range []memoryCase{
		{input: "line", want: "huge.txt:1: line is longer than 16 MiB (MaxLineBytes)"},
		{input: "bomb", gzip: true, want: "bomb.txt.gz:1: line is longer than 16 MiB (MaxLineBytes)"},
		{input: "json", want: "huge.jsonl:1: line is longer than 16 MiB (MaxLineBytes)"},
		{input: "bomb-capped", gzip: true, want: "bomb.txt.gz:1: input is larger than MaxBytes (64 MiB)"},
	} {
		t.Run(c.input, func(t *testing.T) {
			path := ""
			if c.gzip {
				path = bomb
			}
			r := runMemoryJob(t, c.input, path)
			t.Logf("%s: peak RSS %.1f MiB (baseline + %.1f MiB), code %d in %.1fs, %d items: %s",
				c.input, mib(r.peak), mib(r.peak-base.peak), r.Code, r.Seconds, r.In, r.Err)
			assert.LessOrEqual(t, r.peak, base.peak+memorySlack, "peak RSS over the baseline + 64 MiB")
			assert.Equal(t, pipeline.CodeFailure, r.Code, r.Err)
			assert.Contains(t, r.Err, c.want)
			assert.Equal(t, "lines", r.Stage)
		})
	}
}

// runMemoryJob runs the memory job on input (and the file at path) in a
// child process and returns what it printed and its peak RSS.
func runMemoryJob(t *testing.T, input, path string) memoryResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), jobEnv+"=memory", memoryInputEnv+"="+input, memoryPathEnv+"="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	tail := stderr.String()
	if len(tail) > 2000 {
		tail = tail[:2000]
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	require.NoError(t, err, "the %s job (peak RSS %d MiB): %s", input, peak>>20, tail)
	var r memoryResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r), "the %s job printed %q; stderr: %s", input, stdout.String(), tail)
	r.peak = peak
	return r
}

// memoryJob is the child process of runMemoryJob: it reads its input
// through the source and stages a user would use, under the default
// policy, and prints how the run ended.
func memoryJob() int {
	// A regression must not take a shared machine's memory.
	lim := syscall.Rlimit{Cur: memoryCeiling, Max: memoryCeiling}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		return 2
	}
	shift, err := memoryShift()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	in := os.Getenv(memoryInputEnv)
	run, ok := memoryInputs[in]
	if !ok {
		fmt.Fprintf(os.Stderr, "no memory input %q\n", in)
		return 2
	}
	start := time.Now()
	st := run(shift)
	r := memoryResult{Code: st.Code, Stage: st.Stage, Target: st.Target, In: st.Counts.In, Seconds: time.Since(start).Seconds()}
	if st.Err != nil {
		r.Err = st.Err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 2
	}
	return 0
}

// memoryShift returns the shift memoryShiftEnv sets, 0 by default.
func memoryShift() (int, error) {
	s := os.Getenv(memoryShiftEnv)
	if s == "" {
		return 0, nil
	}
	k, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", memoryShiftEnv, err)
	}
	return k, nil
}

// repeated returns a reader of prefix, n bytes "x" and suffix, made as it
// is read: an input of any size that takes no memory. It is not one of the
// readers the sources know, so they read it as an arbitrary io.Reader.
func repeated(prefix string, n int64, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), io.LimitReader(xs{}, n), strings.NewReader(suffix))
}

// xs reads as an endless run of "x".
type xs struct{}

var block = bytes.Repeat([]byte("x"), 64<<10)

func (xs) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], block)
	}
	return n, nil
}

// writeBomb writes a gzip file that inflates to n bytes "x" and no
// newline, and returns its path: a member made of 64 MiB (about 65 KB on
// disk, deflate's best ratio being about 1:1032) written again and again,
// as gzip allows a file of several members.
func writeBomb(t *testing.T, n int64) string {
	t.Helper()
	const chunk = 64 << 20
	size := min(n, chunk)
	var member bytes.Buffer
	zw, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	require.NoError(t, err)
	_, err = io.Copy(zw, io.LimitReader(xs{}, size))
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	path := filepath.Join(t.TempDir(), "bomb.txt.gz")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	for range n / size {
		_, err := f.Write(member.Bytes())
		require.NoError(t, err)
	}
	return path
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
