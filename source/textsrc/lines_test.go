package textsrc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

func TestLines(t *testing.T) {
	t.Run("it numbers the lines from 1 and trims their endings", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\r\nb\n\nc\r\n"), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []textsrc.Line{
			{File: "in.txt", N: 1, Text: "a"},
			{File: "in.txt", N: 2, Text: "b"},
			{File: "in.txt", N: 3, Text: ""},
			{File: "in.txt", N: 4, Text: "c"},
		}, got)
		assert.Equal(t, int64(4), st.Counts.In)
	})

	t.Run("a last line without a line ending is emitted", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\nb"), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b"}, texts(got))
	})

	t.Run("a last line ending in a lone \\r loses it, as with bufio.ScanLines", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\r\nb\r"), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b"}, texts(got))
	})

	t.Run("a \\r inside a line is kept", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\rb\n"), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a\rb"}, texts(got))
	})

	t.Run("an empty input emits nothing", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader(""), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("a line of 1 MiB comes whole, and the lines after it too", func(t *testing.T) {
		long := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		in := "first\n" + long + "\r\nlast\n"
		got, st := drain(t, textsrc.Lines(strings.NewReader(in), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)
		assert.Equal(t, "first", got[0].Text)
		assert.Len(t, got[1].Text, 1<<20)
		assert.True(t, got[1].Text == long, "the long line is not what was written")
		assert.Equal(t, textsrc.Line{File: "in.txt", N: 3, Text: "last"}, got[2])
	})

	t.Run("a UTF-8 byte order mark at the start is skipped", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("\ufeffa\n\ufeffb\n"), "in.txt"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "\ufeffb"}, texts(got), "only the mark at the start is skipped")
	})

	t.Run("Where names a line file:N", func(t *testing.T) {
		assert.Equal(t, "logs/app.log:42", textsrc.Line{File: "logs/app.log", N: 42}.Where())
	})

	t.Run("a read error fails the run naming the input and line, and the part of the line read is not emitted", func(t *testing.T) {
		r := &failingReader{data: []byte("a\nb\npart"), err: errBoom}
		got, st := drain(t, textsrc.Lines(r, "in.txt"))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b"}, texts(got))
		assert.ErrorIs(t, st.Err, errBoom)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "in.txt", le.File)
		assert.Equal(t, 3, le.Line)
		assert.Equal(t, "in.txt:3: read: boom", le.Error())
		assert.Equal(t, "lines", st.Stage)
	})

	t.Run("a nil reader fails the run", func(t *testing.T) {
		_, st := drain(t, textsrc.Lines(nil, "in.txt"))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, "in.txt: nil reader")
	})

	t.Run("two runs at once take turns at the reader: each line is emitted once", func(t *testing.T) {
		const n = 20_000
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%d\n", i)
		}
		src := textsrc.Lines(strings.NewReader(b.String()), "in.txt")
		var got [2][]textsrc.Line
		var codes [2]int
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				st := pipeline.New(src).Sink(sink.Collect(&got[i])).Run(t.Context())
				codes[i] = st.Code
			})
		}
		wg.Wait()

		assert.Equal(t, [2]int{pipeline.CodeSuccess, pipeline.CodeSuccess}, codes)
		all := append(got[0], got[1]...)
		require.Len(t, all, n)
		slices.SortFunc(all, func(a, b textsrc.Line) int { return a.N - b.N })
		for i, l := range all {
			require.Equal(t, textsrc.Line{File: "in.txt", N: i + 1, Text: strconv.Itoa(i)}, l)
		}
	})

	t.Run("an endless input stops when the sink fails", func(t *testing.T) {
		st := pipeline.New(textsrc.Lines(&endless{}, "yes")).
			Sink(sink.Func(func(_ context.Context, l textsrc.Line) error {
				if l.N == 100 {
					return errBoom
				}
				return nil
			})).
			Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, int64(99), st.Counts.Done)
		assert.Zero(t, st.LeftBehind, "a reader that does not block is not left behind")
	})
}

func TestLinesGzip(t *testing.T) {
	const text = "one\ntwo\r\nthree"

	t.Run("a gzip input is detected by its magic bytes and decompressed", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(bytes.NewReader(gzipped(t, text)), "in.txt.gz"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"one", "two", "three"}, texts(got))
		assert.Equal(t, "in.txt.gz:3", got[2].Where())
	})

	t.Run("Gzip decompresses the input", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(bytes.NewReader(gzipped(t, text)), "in", textsrc.Gzip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"one", "two", "three"}, texts(got))
	})

	t.Run("Gzip fails the run on an input that is not gzip, naming it", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader(text), "plain.txt", textsrc.Gzip()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Empty(t, got)
		assert.ErrorIs(t, st.Err, gzip.ErrHeader)
		assert.ErrorContains(t, st.Err, "plain.txt: not a valid gzip stream: gzip: invalid header")
	})

	t.Run("Gzip fails the run on an empty input", func(t *testing.T) {
		_, st := drain(t, textsrc.Lines(strings.NewReader(""), "empty.gz", textsrc.Gzip()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, io.ErrUnexpectedEOF)
		assert.ErrorContains(t, st.Err, "empty.gz: not a valid gzip stream")
	})

	t.Run("NoGzip reads a gzip input as it is", func(t *testing.T) {
		data := gzipped(t, text)
		got, st := drain(t, textsrc.Lines(bytes.NewReader(data), "raw", textsrc.NoGzip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.NotEmpty(t, got)
		assert.True(t, strings.HasPrefix(got[0].Text, "\x1f\x8b"), "the first line starts with the magic bytes")
	})

	t.Run("an input with the magic bytes but a bad header fails the run, naming it", func(t *testing.T) {
		_, st := drain(t, textsrc.Lines(strings.NewReader("\x1f\x8bnot gzip at all\n"), "bad.gz"))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, gzip.ErrHeader)
		assert.ErrorContains(t, st.Err, "bad.gz: not a valid gzip stream")
		assert.Equal(t, "lines", st.Stage)
	})

	t.Run("a truncated gzip input fails the run, naming the input and the line", func(t *testing.T) {
		var b strings.Builder
		for range 5000 {
			b.WriteString("a line of text that compresses well enough\n")
		}
		data := gzipped(t, b.String())
		got, st := drain(t, textsrc.Lines(bytes.NewReader(data[:len(data)/2]), "cut.gz"))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, io.ErrUnexpectedEOF)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "cut.gz", le.File)
		assert.Equal(t, len(got)+1, le.Line, "the error names the line it could not read")
		assert.Contains(t, le.Error(), "read gzip: unexpected EOF")
	})

	t.Run("a gzip input of a few bytes is no gzip and reads as text", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("\x1f"), "short"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"\x1f"}, texts(got))
	})
}

func TestLinesFile(t *testing.T) {
	t.Run("it reads the file, with its path as the lines' File, anew on each run", func(t *testing.T) {
		path := writeFile(t, "in.txt", []byte("a\nb\n"))
		src := textsrc.LinesFile(path)
		for range 2 {
			got, st := drain(t, src)

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, []textsrc.Line{{File: path, N: 1, Text: "a"}, {File: path, N: 2, Text: "b"}}, got)
		}
	})

	t.Run("a gzip file is detected", func(t *testing.T) {
		path := writeFile(t, "in.txt.gz", gzipped(t, "a\nb\n"))
		got, st := drain(t, textsrc.LinesFile(path))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b"}, texts(got))
	})

	t.Run("a missing file fails the run with an error naming its path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.txt")
		_, st := drain(t, textsrc.LinesFile(path))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, fs.ErrNotExist)
		assert.ErrorContains(t, st.Err, path)
		assert.Equal(t, "lines", st.Stage)
	})

	t.Run("the file is closed when the source ends", func(t *testing.T) {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd to count open files with")
		}
		path := writeFile(t, "in.txt", []byte("a\nb\n"))
		src := textsrc.LinesFile(path)
		_, st := drain(t, src) // the first run may open files of the runtime's own
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		fds, err = os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		before := len(fds)
		for range 20 {
			_, st := drain(t, src)
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		}
		stop := pipeline.New(src).Sink(sink.Func(func(context.Context, textsrc.Line) error { return errBoom })).Run(t.Context())
		require.Equal(t, pipeline.CodeFailure, stop.Code)
		fds, err = os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		assert.Equal(t, before, len(fds), "open files before and after 21 runs")
	})
}

// A Line's Where is its label in errors: check that errors.Is sees through
// a LineError to its cause.
func TestLineError(t *testing.T) {
	err := &textsrc.LineError{File: "f", Line: 2, Err: errBoom}
	assert.True(t, errors.Is(err, errBoom))
	assert.Equal(t, "f:2: boom", err.Error())
}
