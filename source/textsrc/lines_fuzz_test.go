package textsrc_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// FuzzLines reads arbitrary bytes through Lines with a MaxLineBytes of
// its choosing, plain or gzip-compressed, under a dead-letter policy, and
// checks them against a split on "\n": each line is emitted whole, or
// rejected as an Oversized with its number, size and head when it is
// longer than the limit; nothing else is lost, and the numbering runs on.
//
// The input is data with a run of long bytes "L" put in at pos, so that
// lines longer than the source's 64 KiB buffer, cut across reads, come up.
// Its seeds are in testdata/fuzz/FuzzLines.
func FuzzLines(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, limit, long, pos uint32, gz bool) {
		maxLine := int(limit%200_000) + 1
		if n := int(long % 200_000); n > 0 {
			at := int(pos) % (len(data) + 1)
			data = append(data[:at:at], append(bytes.Repeat([]byte("L"), n), data[at:]...)...)
		}
		in, opt := data, textsrc.NoGzip()
		if gz {
			in, opt = gzipped(t, string(data)), textsrc.Gzip()
		}
		var got []textsrc.Line
		var dead []stage.DeadLetterItem
		st := pipeline.New(textsrc.Lines(bytes.NewReader(in), "fuzz.txt", textsrc.MaxLineBytes(maxLine), opt), deadLetters(&dead), pipeline.WithoutFailureBudget()).
			Sink(sink.Collect(&got)).Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)

		var wantLines []textsrc.Line
		var wantDead []textsrc.Oversized
		n := 0
		for line := range bytes.SplitAfterSeq(bytes.TrimPrefix(data, []byte("\ufeff")), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			n++
			text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
			if len(text) <= maxLine {
				wantLines = append(wantLines, textsrc.Line{File: "fuzz.txt", N: n, Text: text})
				continue
			}
			wantDead = append(wantDead, textsrc.Oversized{File: "fuzz.txt", Line: n, Size: int64(len(text)), Head: text[:min(len(text), 4096)]})
		}
		require.Equal(t, len(wantLines), len(got), "lines emitted")
		for i := range got {
			require.True(t, wantLines[i] == got[i], "line %d of %d: %q, want %q", i, len(got), got[i].Where(), wantLines[i].Where())
		}
		require.Len(t, dead, len(wantDead), "lines rejected")
		for i, d := range dead {
			o, ok := d.Item.(textsrc.Oversized)
			require.True(t, ok, "a dead letter of a %T", d.Item)
			require.True(t, wantDead[i] == o, "rejected line %d of %d: %s of %d bytes, want %s of %d", i, len(dead), o.Where(), o.Size, wantDead[i].Where(), wantDead[i].Size)
			assert.Equal(t, o.Where(), d.Label)
			assert.ErrorIs(t, d.Err, textsrc.ErrLineTooLong)
		}
		assert.Equal(t, int64(n), st.Counts.In)
		assert.Equal(t, int64(len(wantDead)), st.Counts.DeadLettered)
	})
}
