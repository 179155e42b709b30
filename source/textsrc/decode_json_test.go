package textsrc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// event is the document type of the JSON tests.
type event struct {
	ID   int    `json:"id"`
	Kind string `json:"kind"`
}

// jsonLines runs in (named events.jsonl) through Lines and the stages.
func jsonLines[T any](t *testing.T, in string, stages ...stage.Stage) ([]T, pipeline.ExitStatus) {
	t.Helper()
	p := pipeline.New(textsrc.Lines(strings.NewReader(in), "events.jsonl"))
	for _, s := range stages {
		p = p.Via(s)
	}
	var got []T
	st := p.Sink(sink.Collect(&got)).Run(t.Context())
	return got, st
}

func TestDecodeJSON(t *testing.T) {
	t.Run("it decodes each line, ignoring fields T lacks", func(t *testing.T) {
		in := `{"id":1,"kind":"a"}` + "\r\n" + `  {"id":2,"kind":"b","extra":true}  ` + "\n"
		got, st := jsonLines[event](t, in, textsrc.DecodeJSON[event]())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []event{{1, "a"}, {2, "b"}}, got)
	})

	t.Run("an invalid line fails the run naming it", func(t *testing.T) {
		in := `{"id":1}` + "\n" + `{"id":2,` + "\n" + `{"id":3}` + "\n"
		got, st := jsonLines[event](t, in, textsrc.DecodeJSON[event]())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "decode-json", st.Stage)
		assert.Equal(t, "events.jsonl:2", st.Target)
		assert.Equal(t, []event{{ID: 1}}, got)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "events.jsonl", le.File)
		assert.Equal(t, 2, le.Line)
		var se *json.SyntaxError
		assert.ErrorAs(t, st.Err, &se)
		assert.Equal(t, "events.jsonl:2: unexpected end of JSON input", le.Error())
	})

	t.Run("a value of the wrong type fails its line", func(t *testing.T) {
		_, st := jsonLines[event](t, `{"id":"one"}`, textsrc.DecodeJSON[event]())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		var ue *json.UnmarshalTypeError
		assert.ErrorAs(t, st.Err, &ue)
		assert.ErrorContains(t, st.Err, "events.jsonl:1: json: cannot unmarshal string")
	})

	t.Run("with Skip the bad lines are counted as skipped", func(t *testing.T) {
		in := "{\"id\":1}\nnope\n{\"id\":3}\n[1]\n"
		got, st := jsonLines[event](t, in, textsrc.DecodeJSON[event](stage.OnError(stage.Skip())))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []event{{ID: 1}, {ID: 3}}, got)
		assert.Equal(t, int64(2), st.Counts.Skipped)
		assert.Equal(t, int64(2), st.Counts.Done)
	})

	t.Run("an empty or blank line fails with ErrEmptyLine", func(t *testing.T) {
		_, st := jsonLines[event](t, "{\"id\":1}\n \t\r\n", textsrc.DecodeJSON[event]())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, textsrc.ErrEmptyLine)
		assert.Equal(t, "events.jsonl:2", st.Target)
		assert.ErrorContains(t, st.Err, "events.jsonl:2: empty line")
	})

	t.Run("SkipBlank drops blank lines, counting them as dropped", func(t *testing.T) {
		in := "{\"id\":1}\n\n  \n{\"id\":2}\n"
		got, st := jsonLines[event](t, in, textsrc.SkipBlank(), textsrc.DecodeJSON[event]())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []event{{ID: 1}, {ID: 2}}, got)
		assert.Equal(t, int64(2), st.Counts.Dropped)
		assert.Equal(t, int64(2), st.Counts.Done)
	})

	t.Run("two documents on a line fail it", func(t *testing.T) {
		for _, dec := range []*stage.Of[textsrc.Line, event]{textsrc.DecodeJSON[event](), textsrc.DecodeJSONStrict[event]()} {
			_, st := jsonLines[event](t, `{"id":1} {"id":2}`, dec)

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Equal(t, "events.jsonl:1", st.Target)
		}
	})

	t.Run("DecodeJSONStrict fails a line with a field T lacks", func(t *testing.T) {
		in := "{\"id\":1,\"kind\":\"a\"} \n{\"id\":2,\"extra\":true}\n"
		got, st := jsonLines[event](t, in, textsrc.DecodeJSONStrict[event]())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, []event{{1, "a"}}, got)
		assert.Equal(t, "events.jsonl:2", st.Target)
		assert.ErrorContains(t, st.Err, `events.jsonl:2: json: unknown field "extra"`)
	})

	t.Run("DecodeJSONStrict fails an empty line too", func(t *testing.T) {
		_, st := jsonLines[event](t, "\n", textsrc.DecodeJSONStrict[event]())

		assert.ErrorIs(t, st.Err, textsrc.ErrEmptyLine)
	})

	t.Run("T may be any type json.Unmarshal fills", func(t *testing.T) {
		got, st := jsonLines[map[string]any](t, `{"a":1}`+"\n"+`{"b":[true]}`, textsrc.DecodeJSON[map[string]any]())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []map[string]any{{"a": 1.0}, {"b": []any{true}}}, got)
	})
}
