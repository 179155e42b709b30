package textsrc_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// numberedLines writes the lines "0" to "n-1" to a file, gzip-compressed
// when gz is set, and returns its path.
func numberedLines(t *testing.T, n int, gz bool) string {
	t.Helper()
	var b []byte
	for i := range n {
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '\n')
	}
	if gz {
		return writeFile(t, "big.txt.gz", gzipped(t, string(b)))
	}
	return writeFile(t, "big.txt", b)
}

// truncateAt returns a stage that truncates the file at path to size when
// line n passes it: the source has read some of the file by then, and
// reads the rest after.
func truncateAt(t *testing.T, path string, n int, size int64) *stage.Of[textsrc.Line, textsrc.Line] {
	return stage.Map(func(_ context.Context, l textsrc.Line) (textsrc.Line, error) {
		if l.N == n {
			require.NoError(t, os.Truncate(path, size))
		}
		return l, nil
	})
}

func TestFileThatShrinks(t *testing.T) {
	for _, c := range []struct {
		name string
		gz   bool
		src  func(path string) *source.Of[textsrc.Line]
	}{
		{"LinesFile", false, func(path string) *source.Of[textsrc.Line] { return textsrc.LinesFile(path) }},
		{"LinesFile of a gzip file", true, func(path string) *source.Of[textsrc.Line] { return textsrc.LinesFile(path) }},
		{"Lines of an *os.File", false, func(path string) *source.Of[textsrc.Line] {
			f, err := os.Open(path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = f.Close() })
			return textsrc.Lines(f, path)
		}},
	} {
		t.Run(c.name+": a file truncated while it is read fails the run, naming the sizes and the line", func(t *testing.T) {
			// A million lines, as in issue 14; a gzip file reads ahead
			// 30,000 of them from its first 64 KiB, and compresses slowly
			// under -race: 200,000 do.
			n := 1_000_000
			if c.gz {
				n = 200_000
			}
			path := numberedLines(t, n, c.gz)
			var got []textsrc.Line
			st := pipeline.New(c.src(path)).Via(truncateAt(t, path, 10, 0)).Sink(sink.Collect(&got)).Run(t.Context())

			t.Logf("code %d, %d lines: %s", st.Code, len(got), st.Message)
			require.Equal(t, pipeline.CodeFailure, st.Code, "%d lines: %s", len(got), st.Message)
			next := len(got) + 1
			where := fmt.Sprintf("%s:%d", path, next)
			assert.Equal(t, where, st.Target)
			var le *textsrc.LineError
			require.ErrorAs(t, st.Err, &le)
			assert.Equal(t, next, le.Line)
			assert.Regexp(t, `^`+regexp.QuoteMeta(where)+`: file shrank from [1-9][0-9]* to 0 bytes$`, le.Error())
			for i, l := range got {
				require.Equal(t, fmt.Sprint(i), l.Text, "the lines before the truncation are whole")
			}
		})
	}

	t.Run("under Skip the run ends with the lines read, and the shrink skipped", func(t *testing.T) {
		path := numberedLines(t, 1_000_000, false)
		var got []textsrc.Line
		st := pipeline.New(textsrc.LinesFile(path), pipeline.OnError(stage.Skip())).
			Via(truncateAt(t, path, 10, 100)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(1), st.Counts.Skipped)
		assert.Equal(t, int64(len(got)+1), st.Counts.In)
	})

	t.Run("a file that grows while it is read is no failure", func(t *testing.T) {
		path := writeFile(t, "in.txt", []byte("a\nb\n"))
		grow := stage.Map(func(_ context.Context, l textsrc.Line) (textsrc.Line, error) {
			if l.N == 1 {
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteString("c\n")
				require.NoError(t, err)
				require.NoError(t, f.Close())
			}
			return l, nil
		})
		var got []textsrc.Line
		st := pipeline.New(textsrc.LinesFile(path)).Via(grow).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Len(t, got, 3)
	})
}

// TestCSVFileThatShrinks: a CSV file truncated while it is read fails the
// run under FailFast, naming the row where it ended, as LinesFile does.
func TestCSVFileThatShrinks(t *testing.T) {
	var b []byte
	b = append(b, "id\n"...)
	for i := range 1_000_000 {
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, '\n')
	}
	path := writeFile(t, "big.csv", b)
	cut := stage.Map(func(_ context.Context, r textsrc.Record) (textsrc.Record, error) {
		if r.Line == 10 {
			require.NoError(t, os.Truncate(path, 0))
		}
		return r, nil
	})
	var got []textsrc.Record
	st := pipeline.New(textsrc.CSVFile(path)).Via(cut).Sink(sink.Collect(&got)).Run(t.Context())

	t.Logf("code %d, %d rows: %s", st.Code, len(got), st.Message)
	require.Equal(t, pipeline.CodeFailure, st.Code, "%d rows: %s", len(got), st.Message)
	var le *textsrc.LineError
	require.ErrorAs(t, st.Err, &le)
	assert.ErrorIs(t, st.Err, textsrc.ErrFileShrank)
	assert.Equal(t, len(got)+2, le.Line, "the row after the last one emitted")
	assert.Regexp(t, `file shrank from [1-9][0-9]* to 0 bytes$`, le.Error())
	for i, r := range got {
		require.Equal(t, []string{fmt.Sprint(i)}, r.Fields, "the rows before the truncation are whole")
	}
}
