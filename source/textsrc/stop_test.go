//go:build linux

package textsrc_test

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// stopBound is how soon after a stop (a cancelled context, a second
// signal, a drain) Run must return, whatever the source is blocked on: the
// bound the package docs give.
const stopBound = time.Second

// blockingPipe returns the ends of a pipe in blocking mode, unknown to the
// runtime's poller, as a shell gives a process its stdin (os.Pipe's ends
// are non-blocking and polled). Both are closed when the test ends.
func blockingPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	require.NoError(t, syscall.Pipe2(fds[:], syscall.O_CLOEXEC))
	r, w = os.NewFile(uintptr(fds[0]), "stdin"), os.NewFile(uintptr(fds[1]), "stdin writer")
	t.Cleanup(func() {
		_ = w.Close()
		_ = r.Close()
	})
	return r, w
}

// osPipe returns the ends of an os.Pipe, closed when the test ends.
func osPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = w.Close()
		_ = r.Close()
	})
	return r, w
}

// pipes are the two kinds of pipe a source may be given as its reader.
var pipes = []struct {
	name string
	make func(*testing.T) (r, w *os.File)
}{
	{"a blocking pipe, as a shell's stdin", blockingPipe},
	{"an os.Pipe", osPipe},
}

// isNonblocking reports whether the file description of fd is in
// non-blocking mode (fcntl F_GETFL).
func isNonblocking(t *testing.T, fd uintptr) bool {
	t.Helper()
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	require.Zero(t, errno, "fcntl F_GETFL")
	return flags&syscall.O_NONBLOCK != 0
}

// stopping is a run under test: it runs in a goroutine of its own, so that
// the test can stop it and measure how long Run takes to return.
type stopping struct {
	done chan pipeline.ExitStatus
	seen chan string // the texts of the lines the sink took
}

// start runs src into a sink that reports each line on seen, with opts.
func start(ctx context.Context, src *source.Of[textsrc.Line], opts ...pipeline.Option) *stopping {
	s := &stopping{done: make(chan pipeline.ExitStatus, 1), seen: make(chan string, 100)}
	p := pipeline.New(src, opts...).Sink(sink.Func(func(_ context.Context, l textsrc.Line) error {
		s.seen <- l.Text
		return nil
	}))
	go func() { s.done <- p.Run(ctx) }()
	return s
}

// waitLine waits for the sink to take the line want, for at most 10s.
func (s *stopping) waitLine(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-s.seen:
		require.Equal(t, want, got)
	case st := <-s.done:
		s.done <- st
		require.FailNow(t, "the run ended before the line came", "waiting for %q: %v", want, st)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the line did not come", "waiting for %q", want)
	}
}

// returns waits for Run to return and says how long after since it did.
// When Run has not returned stopBound after since, the test fails and
// unblock is called so that Run (and its goroutines) can end after all.
func (s *stopping) returns(t *testing.T, since time.Time, unblock func()) (pipeline.ExitStatus, time.Duration) {
	t.Helper()
	timer := time.NewTimer(time.Until(since.Add(stopBound)))
	defer timer.Stop()
	select {
	case st := <-s.done:
		return st, time.Since(since)
	case <-timer.C:
		t.Errorf("Run did not return within %v of the stop", stopBound)
		unblock()
		st := <-s.done
		return st, time.Since(since)
	}
}

// blockedIn waits, for at most 10s, until a goroutine of package textsrc
// is in one of calls (as they show in a stack trace), so that a test stops
// a source that is blocked there rather than one on its way to it.
func blockedIn(t *testing.T, calls ...string) {
	t.Helper()
	if !waitBlocked(10*time.Second, calls...) {
		require.FailNow(t, "no source got blocked", "in any of %q", calls)
	}
}

// waitBlocked waits, for at most d, until a goroutine of package textsrc
// is in one of calls, and reports whether one got there.
func waitBlocked(d time.Duration, calls ...string) bool {
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "conveyor/source/textsrc.") && slices.ContainsFunc(calls, func(c string) bool {
				return strings.Contains(g, "\n"+c+"(")
			}) {
				return true
			}
		}
	}
	return false
}

// pollRead is where a goroutine reading a file or a pipe is, in a stack
// trace, whether the runtime polls it or not.
const pollRead = "internal/poll.(*FD).Read"

// blockedReading waits until a source is blocked reading a file or a pipe.
func blockedReading(t *testing.T) { blockedIn(t, pollRead) }

// A hard stop returns Run at once, whatever its source is blocked on; a
// drain ends a source blocked waiting for input.
func TestLinesStopsWhileBlocked(t *testing.T) {
	for _, pipe := range pipes {
		t.Run(pipe.name+": a cancelled context returns Run while the source waits for a line", func(t *testing.T) {
			r, w := pipe.make(t)
			_, err := w.WriteString("one\ntwo\n")
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			run := start(ctx, textsrc.Lines(r, "stdin"))
			run.waitLine(t, "one")
			run.waitLine(t, "two")
			blockedReading(t)

			stop := time.Now()
			cancel()
			st, took := run.returns(t, stop, func() { _ = w.Close() })

			t.Logf("Run returned %v after the cancellation", took)
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Equal(t, int64(2), st.Counts.Done, "the lines read before the stop are done")
			assert.Zero(t, st.LeftBehind)
		})

		t.Run(pipe.name+": a second signal returns Run while the source waits for a line", func(t *testing.T) {
			r, w := pipe.make(t)
			_, err := w.WriteString("one\n")
			require.NoError(t, err)
			stopCh := make(chan os.Signal, 2)
			run := start(t.Context(), textsrc.Lines(r, "stdin"), pipeline.WithStopChannel(stopCh))
			run.waitLine(t, "one")
			blockedReading(t)

			stop := time.Now()
			stopCh <- syscall.SIGINT
			stopCh <- syscall.SIGINT
			st, took := run.returns(t, stop, func() { _ = w.Close() })

			t.Logf("Run returned %v after the signals", took)
			require.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
			var se *pipeline.SignalError
			require.ErrorAs(t, st.Err, &se)
			assert.Equal(t, int64(1), st.Counts.Done)
		})

		t.Run(pipe.name+": a drain ends the source while it waits for a line", func(t *testing.T) {
			r, w := pipe.make(t)
			_, err := w.WriteString("one\n")
			require.NoError(t, err)
			stopCh := make(chan os.Signal, 1)
			run := start(t.Context(), textsrc.Lines(r, "stdin"), pipeline.WithStopChannel(stopCh))
			run.waitLine(t, "one")
			blockedReading(t)

			stop := time.Now()
			stopCh <- syscall.SIGINT
			st, took := run.returns(t, stop, func() { _ = w.Close() })

			t.Logf("Run returned %v after the signal", took)
			require.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
			var se *pipeline.SignalError
			require.ErrorAs(t, st.Err, &se)
			assert.False(t, se.Hard, "the run drained: %s", st.Message)
			assert.Equal(t, int64(1), st.Counts.Done)
			assert.Zero(t, st.Counts.Abandoned)
		})
	}

	t.Run("the descriptor is in blocking mode again after the run", func(t *testing.T) {
		r, w := blockingPipe(t)
		_, err := w.WriteString("one\n")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		run := start(ctx, textsrc.Lines(r, "stdin"))
		run.waitLine(t, "one")
		blockedReading(t)
		assert.True(t, isNonblocking(t, r.Fd()), "while the run reads, the pipe is non-blocking")
		stop := time.Now()
		cancel()
		st, _ := run.returns(t, stop, func() { _ = w.Close() })
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)

		assert.False(t, isNonblocking(t, r.Fd()), "the pipe is left non-blocking")
	})
}

// A second run of a Lines source goes on at the line after the last one the
// first run emitted, even when the first read ahead of it.
func TestLinesSecondRun(t *testing.T) {
	for _, pipe := range pipes {
		t.Run(pipe.name, func(t *testing.T) {
			r, w := pipe.make(t)
			_, err := w.WriteString("one\ntwo\nthree\n")
			require.NoError(t, err)
			src := textsrc.Lines(r, "stdin")

			// Each run stops itself once it has the line until.
			runUntil := func(until string) []textsrc.Line {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				var got []textsrc.Line
				st := pipeline.New(src).Sink(sink.Func(func(_ context.Context, l textsrc.Line) error {
					got = append(got, l)
					if l.Text == until {
						cancel()
					}
					return nil
				})).Run(ctx)
				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				require.ErrorIs(t, st.Err, context.Canceled, "the run stopped at the line %q", until)
				return got
			}
			first := runUntil("one")
			_, err = w.WriteString("four\n")
			require.NoError(t, err)
			second := runUntil("four")

			assert.Equal(t, []string{"one"}, texts(first))
			assert.Equal(t, []textsrc.Line{
				{File: "stdin", N: 2, Text: "two"}, {File: "stdin", N: 3, Text: "three"}, {File: "stdin", N: 4, Text: "four"},
			}, second, "the second run goes on where the first stopped")
		})
	}
}

// A FIFO that no one has opened for writing holds a reader in open(2): a
// hard stop or a drain releases it.
func TestLinesFileFIFOWithoutWriter(t *testing.T) {
	// unblock opens path for writing and closes it at once, which lets an
	// open(2) waiting for a writer return.
	unblock := func(path string) func() {
		return func() {
			if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				_ = f.Close()
			}
		}
	}
	fifoPath := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "pipe")
		require.NoError(t, syscall.Mkfifo(path, 0o600))
		return path
	}

	t.Run("a context deadline returns Run", func(t *testing.T) {
		path := fifoPath(t)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		deadline, _ := ctx.Deadline()
		run := start(ctx, textsrc.LinesFile(path))

		st, took := run.returns(t, deadline, unblock(path))

		t.Logf("Run returned %v after the deadline", took)
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, context.DeadlineExceeded)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("a drain ends the source", func(t *testing.T) {
		path := fifoPath(t)
		stopCh := make(chan os.Signal, 1)
		run := start(t.Context(), textsrc.LinesFile(path), pipeline.WithStopChannel(stopCh))
		blockedIn(t, "os.Open")

		stop := time.Now()
		stopCh <- syscall.SIGINT
		st, took := run.returns(t, stop, unblock(path))

		t.Logf("Run returned %v after the signal", took)
		require.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		var se *pipeline.SignalError
		require.ErrorAs(t, st.Err, &se)
		assert.False(t, se.Hard, "the run drained: %s", st.Message)
	})

	t.Run("a writer that comes before the stop is read from", func(t *testing.T) {
		path := fifoPath(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		run := start(ctx, textsrc.LinesFile(path))
		w, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for the source to open it
		require.NoError(t, err)
		_, err = w.WriteString("one\n")
		require.NoError(t, err)
		run.waitLine(t, "one")
		require.NoError(t, w.Close())

		st, _ := run.returns(t, time.Now(), func() {})
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	})
}

// stuckReader gives its data, then blocks in Read until release is closed,
// then gives later and ends.
type stuckReader struct {
	data, later string
	release     chan struct{}
}

func (r *stuckReader) Read(p []byte) (int, error) {
	if r.data == "" {
		<-r.release
		r.data, r.later = r.later, ""
	}
	if r.data == "" {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// A reader that blocks inside its own Read, with no descriptor to poll,
// cannot be interrupted: Run returns without waiting for it and leaves one
// goroutine behind, which ends once the Read returns. What that Read gives
// goes to the next run.
func TestLinesArbitraryReaderBlocked(t *testing.T) {
	r := &stuckReader{data: "one\n", later: "two\n", release: make(chan struct{})}
	src := textsrc.Lines(r, "custom")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := start(ctx, src)
	run.waitLine(t, "one")
	blockedIn(t, "github.com/conveyor-go/conveyor/source/textsrc_test.(*stuckReader).Read")

	stop := time.Now()
	cancel()
	st, took := run.returns(t, stop, func() { close(r.release) })

	t.Logf("Run returned %v after the cancellation", took)
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Equal(t, int64(1), st.Counts.Done)
	assert.Equal(t, 1, st.LeftBehind, "the goroutine blocked in Read")
	assert.Equal(t, "Cancelled: context canceled; 1 goroutine left behind, blocked in a source (see the log)", st.Message)

	select {
	case <-r.release: // closed by returns, after a failure
	default:
		close(r.release)
	}
	got, st := drain(t, src)
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, []textsrc.Line{{File: "custom", N: 2, Text: "two"}}, got, "the second run gets what the Read left behind gave")
	assert.Zero(t, st.LeftBehind)
	goleak.VerifyNone(t) // the goroutine left behind has ended
}

// Merge does not wait for a source blocked in a read.
func TestMergeStopsWhileLinesBlocked(t *testing.T) {
	r, w := blockingPipe(t)
	_, err := w.WriteString("one\n")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	other := source.Func(func(ctx context.Context, _ func(textsrc.Line) bool) error {
		<-ctx.Done()
		return ctx.Err()
	})
	run := start(ctx, source.Merge(textsrc.Lines(r, "stdin"), other))
	run.waitLine(t, "one")
	blockedReading(t)

	stop := time.Now()
	cancel()
	st, took := run.returns(t, stop, func() { _ = w.Close() })

	t.Logf("Run returned %v after the cancellation", took)
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Equal(t, int64(1), st.Counts.Done)
	assert.Zero(t, st.LeftBehind)
}

// A live input's first line comes as soon as it is written, however short:
// looking for a gzip header or a byte order mark does not wait for more
// bytes than the first ones can tell.
func TestLinesLiveFirstLine(t *testing.T) {
	for _, first := range []string{"a\n", "\n", "\x1f\n", "\xef\xbb\n"} {
		t.Run(strconv.Quote(first), func(t *testing.T) {
			r, w := osPipe(t)
			_, err := w.WriteString(first)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			run := start(ctx, textsrc.Lines(r, "stdin"))
			run.waitLine(t, strings.TrimSuffix(first, "\n"))

			stop := time.Now()
			cancel()
			st, _ := run.returns(t, stop, func() { _ = w.Close() })
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		})
	}
}

// A reader with a read deadline, such as a net.Conn, gets one when the run
// stops: no goroutine is left behind.
func TestLinesDeadlineReaderBlocked(t *testing.T) {
	r, w := net.Pipe()
	defer func() {
		_ = w.Close()
		_ = r.Close()
	}()
	go func() { _, _ = w.Write([]byte("one\n")) }() // net.Pipe's Write waits for the Read
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := start(ctx, textsrc.Lines(r, "conn"))
	run.waitLine(t, "one")
	blockedIn(t, "net.(*pipe).read")

	stop := time.Now()
	cancel()
	st, took := run.returns(t, stop, func() { _ = w.Close() })

	t.Logf("Run returned %v after the cancellation", took)
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Equal(t, int64(1), st.Counts.Done)
	assert.Zero(t, st.LeftBehind)

	go func() { _, _ = w.Write([]byte("two\n")) }()
	buf := make([]byte, 4)
	_, err := io.ReadFull(r, buf)
	require.NoError(t, err, "the deadline is cleared when the run ends")
	assert.Equal(t, "two\n", string(buf))
}

// A stop that cuts a read of a gzip stream leaves it unreadable
// (compress/gzip keeps the error): a next run fails, saying so.
func TestLinesGzipCutByStop(t *testing.T) {
	r, w := osPipe(t)
	zw := gzip.NewWriter(w)
	_, err := zw.Write([]byte("one\ntwo\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Flush()) // the lines can be read; the source waits for more
	src := textsrc.Lines(r, "stdin.gz")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	run := start(ctx, src)
	run.waitLine(t, "one")
	run.waitLine(t, "two")
	blockedReading(t)
	stop := time.Now()
	cancel()
	st, _ := run.returns(t, stop, func() { _ = w.Close() })
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	require.ErrorIs(t, st.Err, context.Canceled)

	require.NoError(t, zw.Close())
	require.NoError(t, w.Close())
	_, st = drain(t, src)
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.ErrorContains(t, st.Err, "stdin.gz: a stop cut its gzip stream, which cannot be read on")
}
