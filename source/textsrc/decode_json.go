package textsrc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/conveyor-go/conveyor/stage"
)

// errTrailingData is why DecodeJSONStrict fails a line with more than one
// JSON value on it.
var errTrailingData = errors.New("unexpected data after the JSON value")

// DecodeJSON decodes each line, as a JSON document (JSON Lines), into a T
// with json.Unmarshal; fields of the document that T lacks are ignored (see
// DecodeJSONStrict). It is a Map stage named "decode-json" whose items are
// labelled "file:N", so that a failure names the line; opts are passed on to
// stage.Map after these defaults, and may override them or set the stage's
// error policy (stage.OnError).
//
// A line that does not decode fails with a *LineError naming it, marked
// stage.Permanent since decoding it again gives the same result: a Retry
// policy goes straight to its fallback. An empty line, or one of only
// spaces and tabs, fails too, with ErrEmptyLine, so that nothing is lost
// unawares: put SkipBlank before the stage to drop blank lines instead.
// A line longer than its source's MaxLineBytes (16 MiB by default) never
// reaches the stage: the source rejects it.
func DecodeJSON[T any](opts ...stage.Option) *stage.Of[Line, T] {
	return decodeJSON[T](false, opts)
}

// DecodeJSONStrict is DecodeJSON that also fails a line whose document has
// a field T lacks, as json.Decoder.DisallowUnknownFields does. Like
// json.Unmarshal, it fails a line with more than one document on it.
func DecodeJSONStrict[T any](opts ...stage.Option) *stage.Of[Line, T] {
	return decodeJSON[T](true, opts)
}

func decodeJSON[T any](strict bool, opts []stage.Option) *stage.Of[Line, T] {
	opts = append([]stage.Option{stage.Name("decode-json"), stage.Label(Line.Where)}, opts...)
	return stage.Map(func(_ context.Context, l Line) (T, error) {
		var v T
		if err := unmarshalLine(l.Text, &v, strict); err != nil {
			return v, stage.Permanent(&LineError{File: l.File, Line: l.N, Err: err})
		}
		return v, nil
	}, opts...)
}

func unmarshalLine(text string, v any, strict bool) error {
	if blank(text) {
		return ErrEmptyLine
	}
	if !strict {
		return json.Unmarshal([]byte(text), v)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if !blank(text[dec.InputOffset():]) {
		return errTrailingData
	}
	return nil
}

// SkipBlank drops the lines that are empty or hold only spaces, tabs and
// "\r" (JSON's white space), counting them in ExitStatus.Counts.Dropped. It
// is a Filter stage named "skip-blank"; opts are passed on to stage.Filter.
func SkipBlank(opts ...stage.Option) *stage.Of[Line, Line] {
	opts = append([]stage.Option{stage.Name("skip-blank"), stage.Label(Line.Where)}, opts...)
	return stage.Filter(func(_ context.Context, l Line) (bool, error) {
		return !blank(l.Text), nil
	}, opts...)
}

// blank reports whether s holds nothing but JSON's white space: spaces,
// tabs, "\r" and "\n".
func blank(s string) bool { return strings.Trim(s, " \t\r\n") == "" }
