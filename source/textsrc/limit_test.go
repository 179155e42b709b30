package textsrc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// deadLetters returns a policy that keeps the dead letters in *dead.
func deadLetters(dead *[]stage.DeadLetterItem) pipeline.Option {
	return pipeline.OnError(stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
		*dead = append(*dead, d)
		return nil
	}))
}

func TestMaxLineBytes(t *testing.T) {
	long := strings.Repeat("x", 11)

	t.Run("a longer line is rejected naming file:line, and the lines after it come, numbered right", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\n"+long+"\nb\n"), "in.txt", textsrc.MaxLineBytes(10)),
			pipeline.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []textsrc.Line{{File: "in.txt", N: 1, Text: "a"}, {File: "in.txt", N: 3, Text: "b"}}, got)
		assert.Equal(t, int64(3), st.Counts.In)
		assert.Equal(t, int64(1), st.Counts.Skipped)
	})

	t.Run("under FailFast it fails the run with a LineError that matches ErrLineTooLong", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\n"+long+"\nb\n"), "in.txt", textsrc.MaxLineBytes(10)))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, []string{"a"}, texts(got))
		assert.ErrorIs(t, st.Err, textsrc.ErrLineTooLong)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "in.txt:2: line is longer than 10 bytes (MaxLineBytes)", le.Error())
		assert.Equal(t, "lines", st.Stage)
		assert.Equal(t, "in.txt:2", st.Target)
		assert.Equal(t, int64(1), st.Counts.Failed)
	})

	t.Run("the limit leaves out the line ending, and the last line is held to it too", func(t *testing.T) {
		ten := strings.Repeat("y", 10)
		in := ten + "\r\n" + ten + "\n" + long + "\r\n" + ten + "\r\n" + long
		got, st := drain(t, textsrc.Lines(strings.NewReader(in), "in.txt", textsrc.MaxLineBytes(10)),
			pipeline.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{ten, ten, ten}, texts(got))
		assert.Equal(t, []int{1, 2, 4}, []int{got[0].N, got[1].N, got[2].N})
		assert.Equal(t, int64(2), st.Counts.Skipped)
	})

	t.Run("the dead letter is an Oversized with the line's head, size and place, flagged truncated", func(t *testing.T) {
		huge := strings.Repeat("0123456789", 10_000) // 100,000 bytes
		var dead []stage.DeadLetterItem
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\n"+long+"\n"+huge+"\r\nb"), "in.txt", textsrc.MaxLineBytes(10)),
			deadLetters(&dead))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b"}, texts(got))
		require.Len(t, dead, 2)
		assert.Equal(t, textsrc.Oversized{File: "in.txt", Line: 2, Size: 11, Head: long}, dead[0].Item)
		assert.Equal(t, textsrc.Oversized{File: "in.txt", Line: 3, Size: 100_000, Head: huge[:4096]}, dead[1].Item)
		assert.Equal(t, "in.txt:3", dead[1].Label)
		o := dead[1].Item.(textsrc.Oversized)
		assert.Equal(t, "in.txt:3", o.Where())
		assert.Equal(t, huge[:4096], o.Raw())
		assert.True(t, o.Truncated())
		assert.ErrorIs(t, dead[1].Err, textsrc.ErrLineTooLong)
	})

	t.Run("a gzip input's lines are held to it once inflated", func(t *testing.T) {
		in := gzipped(t, "a\n"+strings.Repeat("z", 1<<20)+"\nb\n")
		got, st := drain(t, textsrc.Lines(bytes.NewReader(in), "in.gz", textsrc.MaxLineBytes(1000)),
			pipeline.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []textsrc.Line{{File: "in.gz", N: 1, Text: "a"}, {File: "in.gz", N: 3, Text: "b"}}, got)
		assert.Equal(t, int64(1), st.Counts.Skipped)
	})

	t.Run("by default a line of 16 MiB comes whole, and one a byte longer is rejected", func(t *testing.T) {
		atLimit := strings.Repeat("m", textsrc.DefaultMaxLineBytes)
		var dead []stage.DeadLetterItem
		got, st := drain(t, textsrc.Lines(strings.NewReader(atLimit+"\n"+atLimit+"m\nb\n"), "in.txt"), deadLetters(&dead))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 2)
		assert.True(t, got[0].Text == atLimit, "the line at the limit is not whole")
		assert.Equal(t, textsrc.Line{File: "in.txt", N: 3, Text: "b"}, got[1])
		require.Len(t, dead, 1)
		assert.Equal(t, "in.txt:2", dead[0].Label)
		assert.Equal(t, int64(textsrc.DefaultMaxLineBytes+1), dead[0].Item.(textsrc.Oversized).Size)
		assert.EqualError(t, errors.Unwrap(dead[0].Err), "in.txt:2: line is longer than 16 MiB (MaxLineBytes)")
	})

	t.Run("a long line that a read error cuts is skipped on by the next run, numbered right", func(t *testing.T) {
		r := &flakyReader{parts: []string{"a\n" + long[:5], "", long[5:] + "\nb\n"}}
		src := textsrc.Lines(r, "in.txt", textsrc.MaxLineBytes(4))

		got, st := drain(t, src, pipeline.OnError(stage.Skip()))
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, []string{"a"}, texts(got))

		got, st = drain(t, src, pipeline.OnError(stage.Skip()))
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []textsrc.Line{{File: "in.txt", N: 3, Text: "b"}}, got)
		assert.Equal(t, int64(1), st.Counts.Skipped)
	})
}

func TestMaxBytes(t *testing.T) {
	t.Run("past the cap the run fails naming file:line, whatever the policy", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\nb\nc\n"), "in.txt", textsrc.MaxBytes(4)),
			pipeline.OnError(stage.Skip()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b"}, texts(got))
		assert.ErrorIs(t, st.Err, textsrc.ErrInputTooLarge)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "in.txt:3: input is larger than MaxBytes (4 bytes)", le.Error())
		assert.Equal(t, "lines", st.Stage)
	})

	t.Run("a CSV source is capped too, naming the row the cap cut", func(t *testing.T) {
		var got []textsrc.Record
		st := pipeline.New(textsrc.CSV(strings.NewReader("id\n1\n2\n3\n"), "in.csv", textsrc.MaxBytes(6)),
			pipeline.OnError(stage.Skip())).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Len(t, got, 1)
		assert.ErrorIs(t, st.Err, textsrc.ErrInputTooLarge)
		assert.ErrorContains(t, st.Err, "in.csv:3: input is larger than MaxBytes (6 bytes)")
	})

	t.Run("an input of exactly the cap is read whole", func(t *testing.T) {
		got, st := drain(t, textsrc.Lines(strings.NewReader("a\nb\nc\n"), "in.txt", textsrc.MaxBytes(6)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b", "c"}, texts(got))
	})

	t.Run("a gzip input is capped once inflated", func(t *testing.T) {
		line := strings.Repeat("q", 99) + "\n"
		in := gzipped(t, strings.Repeat(line, 1000)) // 100,000 bytes, a few hundred once compressed
		path := writeFile(t, "in.gz", in)
		got, st := drain(t, textsrc.LinesFile(path, textsrc.MaxBytes(50_000)))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Len(t, got, 500)
		assert.ErrorContains(t, st.Err, path+":501: input is larger than MaxBytes (50000 bytes)")
	})

	t.Run("a line being skipped for its length is stopped by it too", func(t *testing.T) {
		_, st := drain(t, textsrc.Lines(strings.NewReader("a\n"+strings.Repeat("w", 3<<20)), "in.txt",
			textsrc.MaxLineBytes(1<<20), textsrc.MaxBytes(2<<20)))
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, "in.txt:2: input is larger than MaxBytes (2 MiB)")
	})
}

// flakyReader gives its parts in turn, failing with errBoom for each empty
// one, and then io.EOF.
type flakyReader struct{ parts []string }

func (r *flakyReader) Read(p []byte) (int, error) {
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	part := r.parts[0]
	if part == "" {
		r.parts = r.parts[1:]
		return 0, errBoom
	}
	n := copy(p, part)
	if n == len(part) {
		r.parts = r.parts[1:]
	} else {
		r.parts[0] = part[n:]
	}
	return n, nil
}
