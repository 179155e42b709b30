//go:build linux

package textsrc_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

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

	st := run.stop(t, cancel, func() { close(r.release) })

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

	st := run.stop(t, cancel, func() { _ = w.Close() })

	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Equal(t, int64(1), st.Counts.Done)
	assert.Zero(t, st.LeftBehind)

	go func() { _, _ = w.Write([]byte("two\n")) }()
	buf := make([]byte, 4)
	_, err := io.ReadFull(r, buf)
	require.NoError(t, err, "the deadline is cleared when the run ends")
	assert.Equal(t, "two\n", string(buf))
}
