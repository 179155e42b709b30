//go:build unix

package textsrc_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// fifo makes a named pipe holding "first\n", kept open for writing (so
// that reading it blocks, waiting for more, rather than ending) until the
// test ends.
func fifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipe")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	w, err := os.OpenFile(path, os.O_RDWR, 0) // does not wait for a reader
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	_, err = w.WriteString("first\n")
	require.NoError(t, err)
	return path
}

// A file that blocks (a FIFO, a device) must not hold the run once it is
// told to stop: a read deadline ends the blocked read.
func TestLinesFileBlocked(t *testing.T) {
	t.Run("a cancelled run stops while the source waits for a line", func(t *testing.T) {
		path := fifo(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var got []string
		st := pipeline.New(textsrc.LinesFile(path)).
			Sink(sink.Func(func(_ context.Context, l textsrc.Line) error {
				got = append(got, l.Text)
				cancel() // the source now waits for a second line that never comes
				return nil
			})).
			Run(ctx)

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, context.Canceled)
		assert.Equal(t, []string{"first"}, got)
	})

	t.Run("a drained run ends while the source waits for a line", func(t *testing.T) {
		path := fifo(t)
		stop := make(chan os.Signal, 1)
		var got []string
		st := pipeline.New(textsrc.LinesFile(path), pipeline.WithStopChannel(stop)).
			Sink(sink.Func(func(_ context.Context, l textsrc.Line) error {
				got = append(got, l.Text)
				stop <- syscall.SIGINT
				return nil
			})).
			Run(t.Context())

		require.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		var se *pipeline.SignalError
		require.ErrorAs(t, st.Err, &se)
		assert.False(t, se.Hard, "the run drained")
		assert.Equal(t, []string{"first"}, got)
		assert.Equal(t, int64(1), st.Counts.Done)
	})
}
