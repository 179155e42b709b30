package textsrc_test

import (
	"bytes"
	"encoding/csv"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// fields returns the Fields of each record.
func fields(recs []textsrc.Record) [][]string {
	out := make([][]string, len(recs))
	for i, r := range recs {
		out[i] = r.Fields
	}
	return out
}

func TestCSV(t *testing.T) {
	t.Run("the first row is the header, and each record has the line it starts on", func(t *testing.T) {
		in := "id,note\n1,plain\n\n2,\"two\nlines\"\r\n3,last"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "notes.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)
		assert.Equal(t, [][]string{{"1", "plain"}, {"2", "two\nlines"}, {"3", "last"}}, fields(got))
		assert.Equal(t, []string{"notes.csv:2", "notes.csv:4", "notes.csv:6"},
			[]string{got[0].Where(), got[1].Where(), got[2].Where()})
		for _, r := range got {
			assert.Equal(t, []string{"id", "note"}, r.Header)
			assert.Equal(t, "notes.csv", r.File)
			assert.NoError(t, r.Err)
		}
		assert.Same(t, &got[0].Header[0], &got[2].Header[0], "the records share one header")
	})

	t.Run("rows may have any number of fields", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(strings.NewReader("a,b\n1\n1,2,3\n"), "f.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]string{{"1"}, {"1", "2", "3"}}, fields(got))
	})

	t.Run("a row with a bare quote is emitted with Err, and reading goes on", func(t *testing.T) {
		in := "id,name\n1,ada\n2,b\"ob\n3,cy\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "people.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)
		assert.NoError(t, got[0].Err)
		assert.NoError(t, got[2].Err)
		assert.Equal(t, []string{"3", "cy"}, got[2].Fields)
		assert.Equal(t, "people.csv:4", got[2].Where())

		bad := got[1]
		assert.Equal(t, "people.csv:3", bad.Where())
		var pe *csv.ParseError
		require.ErrorAs(t, bad.Err, &pe)
		assert.ErrorIs(t, bad.Err, csv.ErrBareQuote)
		var le *textsrc.LineError
		require.ErrorAs(t, bad.Err, &le)
		assert.Equal(t, textsrc.LineError{File: "people.csv", Line: 3, Err: pe}, *le)
		assert.Equal(t, `people.csv:3:4: bare " in non-quoted-field`, bad.Err.Error())
	})

	t.Run("an unclosed quote takes the rest of the input into one malformed row", func(t *testing.T) {
		in := "id,name\n1,\"ada\n2,bob\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 1)
		assert.ErrorIs(t, got[0].Err, csv.ErrQuote)
		assert.Equal(t, 2, got[0].Line)
	})

	t.Run("a malformed header fails the run naming the input and the line", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(strings.NewReader("i\"d,name\n1,ada\n"), "f.csv"))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Empty(t, got)
		assert.ErrorIs(t, st.Err, csv.ErrBareQuote)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "f.csv", le.File)
		assert.Equal(t, 1, le.Line)
		assert.Contains(t, le.Error(), "f.csv:1: header: ")
		assert.Equal(t, "csv", st.Stage)
	})

	t.Run("an empty input, or a header alone, emits nothing", func(t *testing.T) {
		for _, in := range []string{"", "\n\n", "id,name\n"} {
			got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv"))

			require.Equal(t, pipeline.CodeSuccess, st.Code, "%q: %s", in, st.Message)
			assert.Empty(t, got, "%q", in)
		}
	})

	t.Run("a byte order mark before the header is skipped", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(strings.NewReader("\ufeffid,name\n1,ada\n"), "f.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 1)
		assert.Equal(t, []string{"id", "name"}, got[0].Header)
	})

	t.Run("Comma sets the delimiter", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(strings.NewReader("id;amount\n1;12,5\n"), "f.csv", textsrc.Comma(';')))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]string{{"1", "12,5"}}, fields(got))
	})

	t.Run("an invalid delimiter fails the run", func(t *testing.T) {
		_, st := drain(t, textsrc.CSV(strings.NewReader("a\n"), "f.csv", textsrc.Comma('"')))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorContains(t, st.Err, `f.csv: invalid CSV delimiter '"'`)
	})

	t.Run("LazyQuotes accepts a bare quote", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(strings.NewReader("id,name\n2,b\"ob\n"), "f.csv", textsrc.LazyQuotes()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 1)
		assert.NoError(t, got[0].Err)
		assert.Equal(t, []string{"2", "b\"ob"}, got[0].Fields)
	})

	t.Run("a gzip input is detected", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(bytes.NewReader(gzipped(t, "id\n1\n2\n")), "f.csv.gz"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]string{{"1"}, {"2"}}, fields(got))
	})

	t.Run("a read error fails the run naming the input and the line after the last row", func(t *testing.T) {
		r := &failingReader{data: []byte("id,note\n1,\"a\nb\"\n2,x"), err: errBoom}
		got, st := drain(t, textsrc.CSV(r, "f.csv"))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, [][]string{{"1", "a\nb"}}, fields(got))
		assert.ErrorIs(t, st.Err, errBoom)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		assert.Equal(t, "f.csv:4: read: boom", le.Error())
	})
}

func TestCSVFile(t *testing.T) {
	t.Run("it reads the file, with its path as the records' File", func(t *testing.T) {
		path := filepath.Join("testdata", "orders.csv")
		got, st := drain(t, textsrc.CSVFile(path))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)
		assert.Equal(t, []string{"id", "customer", "amount", "placed"}, got[0].Header)
		assert.Equal(t, []string{"3", "cy", "1,5", "2024-03-03T09:15:00Z"}, got[2].Fields)
		assert.Equal(t, path+":4", got[2].Where())
	})

	t.Run("a missing file fails the run with an error naming its path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.csv")
		_, st := drain(t, textsrc.CSVFile(path))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, fs.ErrNotExist)
		assert.ErrorContains(t, st.Err, path)
		assert.Equal(t, "csv", st.Stage)
	})
}
