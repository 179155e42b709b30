//go:build linux

package textsrc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

func init() { jobs["stdin"] = stdinJob }

// stdinJob is a JSON-lines job reading os.Stdin, stopped by SIGINT: a
// first one drains it, a second stops it hard. It holds the item with id 3
// until the run stops hard, so that the drain cannot end before the second
// signal, while its source waits for a line that does not come. It prints
// what it does to stdout, and how the run ended, and logs to stderr.
func stdinJob() int {
	type order struct {
		ID int `json:"id"`
	}
	logger, err := zap.NewDevelopment() // to stderr
	if err != nil {
		return 3
	}
	st := pipeline.New(textsrc.Lines(os.Stdin, "stdin"), pipeline.WithSignals(os.Interrupt), pipeline.WithLogger(logger)).
		Via(textsrc.DecodeJSON[order]()).
		ParMap(2, stage.Func(func(ctx context.Context, o order) (order, error) {
			if o.ID == 3 {
				if !waitBlocked(10*time.Second, pollRead) {
					fmt.Println("the source is not reading")
				}
				fmt.Println("holding 3, the source waits for stdin")
				<-ctx.Done()
				return o, ctx.Err()
			}
			return o, nil
		})).
		Sink(sink.Func(func(_ context.Context, o order) error {
			fmt.Println("done", o.ID)
			return nil
		})).
		Run(context.Background())
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, 0, syscall.F_GETFL, 0)
	var se *pipeline.SignalError
	fmt.Printf("code %d, hard %v, left behind %d, stdin non-blocking %v (errno %d)\n",
		st.Code, errors.As(st.Err, &se) && se.Hard, st.LeftBehind, flags&syscall.O_NONBLOCK != 0, errno)
	return st.Code
}

// output is what a process writes to one of its outputs, as it comes.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // has a value after a write
}

func newOutput() *output { return &output{more: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.more <- struct{}{}:
	default:
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits, for at most 10s, until the output holds s.
func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(o.String(), s) {
		select {
		case <-o.more:
		case <-timeout:
			require.FailNow(t, "the process did not write "+s, "it wrote %q", o.String())
		}
	}
}

// A process reading its stdin, a pipe that is open but idle, ends within
// 1s of a second SIGINT (the first drains it), with code 130, and leaves
// its stdin in blocking mode, as it found it.
func TestStdinJobStopsOnSecondSIGINT(t *testing.T) {
	r, w := blockingPipe(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), jobEnv+"=stdin")
	stdout, stderr := newOutput(), newOutput()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, stdout, stderr // r is the job's fd 0
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = w.Close() // ends the job if it is still reading
		<-exited
	}()
	_, err := w.WriteString("{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n")
	require.NoError(t, err)
	stdout.waitFor(t, "holding 3")

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	stderr.waitFor(t, "draining")
	stop := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err = <-exited:
		exited <- err
	case <-time.After(stopBound):
		t.Errorf("the job did not end within %v of the second SIGINT", stopBound)
		_ = w.Close()
		err = <-exited
		exited <- err
	}
	t.Logf("the job ended %v after the second SIGINT", time.Since(stop))

	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stdout: %s\nstderr: %s", stdout, stderr)
	assert.Equal(t, 128+int(syscall.SIGINT), ee.ExitCode())
	assert.Contains(t, stdout.String(), "done 1")
	assert.Contains(t, stdout.String(), "done 2")
	assert.Contains(t, stdout.String(), "code 130, hard true, left behind 0, stdin non-blocking false (errno 0)")
	assert.False(t, isNonblocking(t, r.Fd()), "the job left its stdin non-blocking")
}
