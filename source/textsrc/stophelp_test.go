//go:build linux

package textsrc_test

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// stop calls stop, then waits for Run to return (see returns) and logs how
// long it took.
func (s *stopping) stop(t *testing.T, stop, unblock func()) pipeline.ExitStatus {
	t.Helper()
	since := time.Now()
	stop()
	st, took := s.returns(t, since, unblock)
	t.Logf("Run returned %v after the stop", took)
	return st
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
