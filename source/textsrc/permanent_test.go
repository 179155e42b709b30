package textsrc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// TestBadDataIsNotRetried runs each built-in decoder on one bad line or row
// under Retry(5) then DeadLetter: decoding the same bytes again gives the
// same error, so the item is dead-lettered at once, never retried.
func TestBadDataIsNotRetried(t *testing.T) {
	type row struct {
		ID int `json:"id" csv:"id"`
	}
	csvIn := func(in string) source.Source { return textsrc.CSV(strings.NewReader(in), "f.csv") }
	linesIn := func(in string) source.Source { return textsrc.Lines(strings.NewReader(in), "f.jsonl") }
	rows := sink.Discard[row]()
	cases := []struct {
		name  string
		src   source.Source
		dec   stage.Stage
		label string
		snk   sink.Sink
	}{
		{"a JSON line that does not decode", linesIn(`{"id":1}` + "\n{oops\n" + `{"id":3}` + "\n"), textsrc.DecodeJSON[row](), "f.jsonl:2", rows},
		{"a blank JSON line", linesIn(`{"id":1}` + "\n\n" + `{"id":3}` + "\n"), textsrc.DecodeJSON[row](), "f.jsonl:2", rows},
		{"a strict JSON line with an unknown field", linesIn(`{"id":1}` + "\n" + `{"id":2,"x":1}` + "\n" + `{"id":3}` + "\n"), textsrc.DecodeJSONStrict[row](), "f.jsonl:2", rows},
		{"a CSV value that does not convert", csvIn("id\n1\nx\n3\n"), textsrc.DecodeCSV[row](), "f.csv:3", rows},
		{"a malformed CSV record", csvIn("id\n1\na\"b\n3\n"), textsrc.DecodeCSV[row](), "f.csv:3", rows},
		{"a malformed CSV record, as a map", csvIn("id\n1\na\"b\n3\n"), textsrc.DecodeCSVMap(), "f.csv:3", sink.Discard[map[string]string]()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var dead []stage.DeadLetterItem
			policy := stage.Retry(5, 0, 0).Then(stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
				dead = append(dead, d)
				return nil
			}))
			st := pipeline.New(c.src, pipeline.OnError(policy)).Via(c.dec).Sink(c.snk).Run(t.Context())
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Zero(t, st.Counts.Retried, "decoded once")
			assert.Equal(t, int64(1), st.Counts.DeadLettered)
			require.Len(t, dead, 1)
			assert.Equal(t, c.label, dead[0].Label)
			assert.Equal(t, int64(2), st.Counts.Done, "the good items go on")
		})
	}
}
