//go:build linux

package textsrc_test

import (
	"compress/gzip"
	"context"
	"os"
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

			st := run.stop(t, cancel, func() { _ = w.Close() })

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Equal(t, int64(2), st.Counts.Done, "the lines read before the stop are done")
			assert.Zero(t, st.LeftBehind)
		})

		for _, c := range []struct {
			name    string
			signals int
		}{
			{"a drain (a signal) ends the source while it waits for a line", 1},
			{"a second signal returns Run while the source waits for a line", 2},
		} {
			t.Run(pipe.name+": "+c.name, func(t *testing.T) {
				r, w := pipe.make(t)
				_, err := w.WriteString("one\n")
				require.NoError(t, err)
				stopCh := make(chan os.Signal, 2)
				run := start(t.Context(), textsrc.Lines(r, "stdin"), pipeline.WithStopChannel(stopCh))
				run.waitLine(t, "one")
				blockedReading(t)

				st := run.stop(t, func() {
					for range c.signals {
						stopCh <- syscall.SIGINT
					}
				}, func() { _ = w.Close() })

				require.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
				var se *pipeline.SignalError
				require.ErrorAs(t, st.Err, &se)
				assert.Equal(t, int64(1), st.Counts.Done)
				if c.signals == 1 {
					assert.False(t, se.Hard, "the run drained: %s", st.Message)
					assert.Zero(t, st.Counts.Abandoned)
				}
			})
		}
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
		st := run.stop(t, cancel, func() { _ = w.Close() })
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

	st := run.stop(t, cancel, func() { _ = w.Close() })

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

			st := run.stop(t, cancel, func() { _ = w.Close() })
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		})
	}
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
	st := run.stop(t, cancel, func() { _ = w.Close() })
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	require.ErrorIs(t, st.Err, context.Canceled)

	require.NoError(t, zw.Close())
	require.NoError(t, w.Close())
	_, st = drain(t, src)
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.ErrorContains(t, st.Err, "stdin.gz: a stop cut its gzip stream, which cannot be read on")
}
