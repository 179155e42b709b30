package textsrc_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// fuzzEvent is the document type of FuzzJSONLines.
type fuzzEvent struct {
	ID   int            `json:"id"`
	Name string         `json:"name"`
	Tags []string       `json:"tags"`
	Meta map[string]any `json:"meta"`
	At   *time.Time     `json:"at"`
}

// FuzzJSONLines feeds arbitrary bytes through Lines, SkipBlank and
// DecodeJSON, under the Skip policy, and checks that the run accounts for
// every line and ends with code 0, or 1 and an error naming the input,
// never with a panic. For plain inputs it checks the lines and documents
// against a split on "\n" and json.Unmarshal.
func FuzzJSONLines(f *testing.F) {
	f.Add([]byte(`{"id":1,"name":"a"}` + "\n" + `{"id":"x"}` + "\n"))
	f.Add([]byte("\n \t\r\n{\"tags\":[\"a\",\"b\"],\"meta\":{\"k\":[1,null]}}\r\n{"))
	f.Add([]byte(`{"at":"2024-01-02T03:04:05Z"}` + "\n" + `{"at":"soon"} {}` + "\n"))
	f.Add([]byte("\ufeff[1,2]\n\"str\"\nnull\n"))
	f.Add([]byte("{\"id\":1e400}\n\r"))
	f.Add(gzipped(f, `{"id":1}`+"\n"))
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		var got []fuzzEvent
		st := pipeline.New(textsrc.Lines(bytes.NewReader(data), "fuzz.jsonl"), pipeline.WithoutFailureBudget()).
			Via(textsrc.SkipBlank()).
			Via(textsrc.DecodeJSON[fuzzEvent](stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&got)).
			Run(t.Context())
		checkSkipRun(t, st, len(got), "lines")

		var strict []fuzzEvent
		st2 := pipeline.New(textsrc.Lines(bytes.NewReader(data), "fuzz.jsonl"), pipeline.WithoutFailureBudget()).
			Via(textsrc.DecodeJSONStrict[fuzzEvent](stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&strict)).
			Run(t.Context())
		checkSkipRun(t, st2, len(strict), "lines")
		assert.Equal(t, st.Code, st2.Code)
		assert.LessOrEqual(t, len(strict), len(got), "strict decoding keeps no more than the lenient one")

		if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			return
		}
		lines, blank, want := decodeDirectly(data)
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, lines, st.Counts.In)
		assert.Equal(t, blank, st.Counts.Dropped)
		assert.Equal(t, want, got)
	})
}

// decodeDirectly splits data into lines as Lines does and decodes them as
// DecodeJSON does: it returns the number of lines, of blank ones, and the
// documents that decode.
func decodeDirectly(data []byte) (lines, blank int64, docs []fuzzEvent) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	for line := range bytes.SplitAfterSeq(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		lines++
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(bytes.Trim(line, " \t\r\n")) == 0 {
			blank++
			continue
		}
		var v fuzzEvent
		if json.Unmarshal(line, &v) == nil {
			docs = append(docs, v)
		}
	}
	return lines, blank, docs
}
