//go:build linux

package textsrc_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

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

		st := run.stop(t, func() { stopCh <- syscall.SIGINT }, unblock(path))

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
