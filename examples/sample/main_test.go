package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/stats"
)

// TestMain fails the package if a test leaves a goroutine running: the
// in-process runs start workers, and the signal tests start a process.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exitTimeout bounds every child process, so a hang fails the test instead
// of hanging CI. It is generous: a drained run of the sample takes about
// 6 s, and nothing here measures speed.
const exitTimeout = 30 * time.Second

func TestBuild(t *testing.T) {
	for _, workers := range []int{1, 2, 8} {
		t.Run(fmt.Sprintf("%d workers give the seed's final stats", workers), func(t *testing.T) {
			reg := stats.New()
			cfg := config{workers: workers, items: 100, batch: 2, sleep: 0.002, quiet: true}
			st := build(cfg, reg, zap.NewNop()).Run(t.Context())

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			want := stats.Snapshot{
				"items_total":     100,
				"batches_total":   50,
				"items_processed": 100,
				"items_positive":  50,
				"items_negative":  50,
			}
			assert.Equal(t, want, reg.Snapshot())
			assert.Equal(t, want, st.Stats)
			assert.Equal(t, map[string]int64{"items_total": 100, "batches_total": 50}, reg.Totals())
			assert.Equal(t, int64(100), st.Counts.In)
			assert.Equal(t, int64(100), st.Counts.Done, "counts are in source items, not batches")
			assert.Zero(t, st.Counts.Abandoned)
		})
	}

	t.Run("an odd number of items ends with a short batch", func(t *testing.T) {
		reg := stats.New()
		cfg := config{workers: 3, items: 7, batch: 2, sleep: 0.001, quiet: true}
		st := build(cfg, reg, zap.NewNop()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(7), reg.Get("items_processed"))
		assert.Equal(t, int64(4), reg.Get("batches_total"))
		assert.Equal(t, int64(7), st.Counts.Done, "the short batch counts for its one item")
	})
}

// sample is a run of the sample binary under test.
type sample struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	ready  chan struct{} // closed at the first finished batch
	logs   chan string   // the whole of stderr, sent at EOF
}

// buildSample compiles the sample into a temporary directory.
func buildSample(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the signal tests send SIGINT, which Windows processes cannot receive")
	}
	if testing.Short() {
		t.Skip("builds and runs the sample binary")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "sample")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startSample starts the binary with args and returns once a batch has
// finished, so the pipeline is surely running and handles SIGINT. Without
// -quiet, every worker logs a "done" line per batch on stderr.
func startSample(t *testing.T, ctx context.Context, bin string, args ...string) *sample {
	t.Helper()
	s := &sample{
		cmd:   exec.CommandContext(ctx, bin, args...),
		ready: make(chan struct{}),
		logs:  make(chan string, 1),
	}
	s.cmd.Stdout = &s.stdout
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		ready := s.ready
		for sc.Scan() {
			all.WriteString(sc.Text())
			all.WriteByte('\n')
			if ready != nil && strings.Contains(sc.Text(), "done") {
				close(ready)
				ready = nil
			}
		}
		s.logs <- all.String()
	}()
	// However the test ends, the process is killed (by ctx) and reaped, so
	// no goroutine of os/exec outlives it.
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			s.wait()
		}
	})

	select {
	case <-s.ready:
	case logs := <-s.logs:
		s.logs <- logs
		require.FailNow(t, "the sample ended before finishing a batch", "stderr:\n%s", logs)
	case <-ctx.Done():
		require.FailNow(t, "the sample finished no batch in time")
	}
	return s
}

// wait reads stderr to its end, then reaps the process and returns its
// exit code and stderr.
func (s *sample) wait() (int, string) {
	logs := <-s.logs
	s.logs <- logs
	err := s.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, logs
	}
	return s.cmd.ProcessState.ExitCode(), logs
}

// finished returns the status line ("Finished with code ...") and the JSON
// stats line that the sample prints on stdout.
func finished(t *testing.T, stdout string) (string, map[string]int64) {
	t.Helper()
	var status string
	var snap map[string]int64
	for line := range strings.Lines(stdout) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Finished with code "):
			status = line
		case strings.HasPrefix(line, "{"):
			require.NoError(t, json.Unmarshal([]byte(line), &snap), "stats line %q", line)
		}
	}
	require.NotEmpty(t, status, "no status line in stdout:\n%s", stdout)
	require.NotNil(t, snap, "no JSON stats line in stdout:\n%s", stdout)
	return status, snap
}

func TestSIGINTDrainsTheRun(t *testing.T) {
	t.Parallel() // each waits on its own process
	bin := buildSample(t)
	ctx, cancel := context.WithTimeout(t.Context(), exitTimeout)
	defer cancel()

	s := startSample(t, ctx, bin, "-sleep", "1")
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGINT))
	code, logs := s.wait()
	require.NoError(t, ctx.Err(), "the sample did not exit within %v; stderr:\n%s", exitTimeout, logs)

	assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", s.stdout.String(), logs)
	status, snap := finished(t, s.stdout.String())
	assert.True(t, strings.HasPrefix(status, "Finished with code 130 "), status)
	assert.Contains(t, status, "drained")
	assert.Contains(t, logs, "draining")
	// stderr is not a terminal here: progress comes as log lines, and the
	// last one is written however the run ends.
	assert.Contains(t, logs, "progress: finished")

	assert.Equal(t, int64(100), snap["items_total"])
	assert.Equal(t, int64(50), snap["batches_total"])
	assert.Equal(t, snap["items_processed"], snap["items_positive"]+snap["items_negative"])
	// A drain finishes every item the source emitted: the status line says
	// how many that was ("... drained; the source emitted N items, ...").
	m := regexp.MustCompile(`the source emitted (\d+) items`).FindStringSubmatch(status)
	require.NotNil(t, m, status)
	emitted, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	assert.Positive(t, emitted)
	assert.Equal(t, emitted, snap["items_processed"], "a drain abandons no emitted item")
}

func TestSecondSIGINTStopsHard(t *testing.T) {
	t.Parallel() // each waits on its own process
	bin := buildSample(t)
	ctx, cancel := context.WithTimeout(t.Context(), exitTimeout)
	defer cancel()

	s := startSample(t, ctx, bin, "-sleep", "1")
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGINT))
	code, logs := s.wait()
	require.NoError(t, ctx.Err(), "the sample did not exit within %v; stderr:\n%s", exitTimeout, logs)

	assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", s.stdout.String(), logs)
	status, snap := finished(t, s.stdout.String())
	assert.True(t, strings.HasPrefix(status, "Finished with code 130 "), status)
	assert.Contains(t, status, "hard")
	assert.Contains(t, logs, "progress: finished", "a hard stop still ends the progress reports")
	assert.Equal(t, int64(100), snap["items_total"])
	assert.Equal(t, snap["items_processed"], snap["items_positive"]+snap["items_negative"])
	// In-flight batches were abandoned, so not every item was processed.
	assert.Less(t, snap["items_processed"], int64(100))
}
