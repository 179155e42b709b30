package textsrc_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
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
	t.Run("the first row is the header, and each record has the lines it spans", func(t *testing.T) {
		in := "id,note\n1,plain\n\n2,\"two\nlines\"\r\n3,last"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "notes.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)
		assert.Equal(t, [][]string{{"1", "plain"}, {"2", "two\nlines"}, {"3", "last"}}, fields(got))
		assert.Equal(t, []string{"notes.csv:2", "notes.csv:4-5", "notes.csv:6"},
			[]string{got[0].Where(), got[1].Where(), got[2].Where()})
		assert.Equal(t, [][2]int{{2, 2}, {4, 5}, {6, 6}},
			[][2]int{{got[0].Line, got[0].EndLine}, {got[1].Line, got[1].EndLine}, {got[2].Line, got[2].EndLine}})
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
		assert.Equal(t, textsrc.LineError{File: "people.csv", Line: 3, EndLine: 3, Err: pe}, *le)
		assert.Equal(t, `people.csv:3:4: bare " in non-quoted-field`, bad.Err.Error())
	})

	t.Run("an unclosed quote takes the rest of the input into one malformed row", func(t *testing.T) {
		in := "id,name\n1,\"ada\n2,bob\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 1)
		assert.ErrorIs(t, got[0].Err, csv.ErrQuote)
		assert.Equal(t, "f.csv:2-3", got[0].Where())
		assert.Equal(t, "1,\"ada\n2,bob\n", got[0].Raw(), "the row's bytes, up to the end of the input")
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

	t.Run("the Raw of a Record made by hand is its fields as a CSV row", func(t *testing.T) {
		rec := textsrc.Record{File: "f.csv", Line: 3, Fields: []string{"a", "b,c", `d"e`}}

		assert.Equal(t, `a,"b,c","d""e"`, rec.Raw())
		assert.Equal(t, "f.csv:3", rec.Where())
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

// readRejected decodes what textsink.DeadLetters wrote.
func readRejected(t *testing.T, b *bytes.Buffer) []textsink.Rejected {
	t.Helper()
	var out []textsink.Rejected
	dec := json.NewDecoder(b)
	for dec.More() {
		var r textsink.Rejected
		require.NoError(t, dec.Decode(&r))
		out = append(out, r)
	}
	return out
}

func TestCSVUnclosedQuote(t *testing.T) {
	type row struct {
		ID string `csv:"id"`
		V  string `csv:"v"`
	}
	const in = "id,v\n1,1\n2,\"oops\n3,3\n4,4\n5,5\n"
	run := func(t *testing.T, opts ...textsrc.Option) ([]row, []textsink.Rejected) {
		t.Helper()
		var good []row
		var rej bytes.Buffer
		st := pipeline.New(textsrc.CSV(strings.NewReader(in), "orders.csv", opts...),
			pipeline.OnError(textsink.DeadLetters(&rej))).
			Via(textsrc.DecodeCSV[row]()).
			Sink(sink.Collect(&good)).
			Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		return good, readRejected(t, &rej)
	}

	t.Run("the row runs to the end of the input, and its dead letter names its lines and holds them as read", func(t *testing.T) {
		good, dead := run(t)

		assert.Equal(t, []row{{"1", "1"}}, good)
		require.Len(t, dead, 1)
		assert.Equal(t, "orders.csv:3-6", dead[0].Item)
		assert.Equal(t, "2,\"oops\n3,3\n4,4\n5,5\n", dead[0].Raw)
		assert.Contains(t, dead[0].Error, `item "orders.csv:3-6": orders.csv:6:5: extraneous or missing " in quoted-field`)
	})

	t.Run("the row ends with the line where it goes over MaxLineBytes, and reading goes on after it", func(t *testing.T) {
		good, dead := run(t, textsrc.MaxLineBytes(10))

		assert.Equal(t, []row{{"1", "1"}, {"4", "4"}, {"5", "5"}}, good)
		require.Len(t, dead, 1)
		assert.Equal(t, "orders.csv:3-4", dead[0].Item)
		assert.Equal(t, "2,\"oops\n3,3", dead[0].Raw)
		assert.Contains(t, dead[0].Error, `item "orders.csv:3-4": orders.csv:3-4: record is longer than 10 bytes (MaxLineBytes)`)
	})

	t.Run("a row after a quoted field over several lines decodes", func(t *testing.T) {
		got, st := drain(t, textsrc.CSV(strings.NewReader("id,v\n1,\"a\r\nb\"\r\n2,2\r\n"), "f.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]string{{"1", "a\nb"}, {"2", "2"}}, fields(got))
		assert.Equal(t, []string{"f.csv:2-3", "f.csv:4"}, []string{got[0].Where(), got[1].Where()})
		assert.Equal(t, []string{"1,\"a\r\nb\"", "2,2"}, []string{got[0].Raw(), got[1].Raw()}, "the rows' text as read")
	})
}

func TestCSVLimits(t *testing.T) {
	// limitErr checks that rec failed with sentinel, and with text.
	limitErr := func(t *testing.T, rec textsrc.Record, sentinel error, text string) {
		t.Helper()
		assert.ErrorIs(t, rec.Err, sentinel)
		var le *textsrc.LineError
		require.ErrorAs(t, rec.Err, &le)
		assert.Equal(t, text, le.Error())
		assert.Nil(t, rec.Fields)
	}

	t.Run("a row longer than MaxLineBytes is emitted with ErrRecordTooLong, and reading goes on", func(t *testing.T) {
		in := "a,b\n1,2\n333333333,4\n5,6\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv", textsrc.MaxLineBytes(8)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)
		assert.NoError(t, got[0].Err)
		limitErr(t, got[1], textsrc.ErrRecordTooLong, "f.csv:3: record is longer than 8 bytes (MaxLineBytes)")
		assert.Equal(t, "333333333,4", got[1].Raw())
		assert.False(t, got[1].Truncated())
		assert.Equal(t, []string{"5", "6"}, got[2].Fields)
		assert.Equal(t, "f.csv:4", got[2].Where())
	})

	t.Run("a row of MaxLineBytes is read, whatever its line ending, and however many lines it has", func(t *testing.T) {
		in := "a,b\r\n1,2\r\n\"\n\"\r\n3,4\r"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv", textsrc.MaxLineBytes(3)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]string{{"1", "2"}, {"\n"}, {"3", "4"}}, fields(got))
	})

	t.Run("a row with more fields than MaxFields is emitted with ErrTooManyFields, and reading goes on", func(t *testing.T) {
		in := "a,b\n1,2,3\n1,2,3,4\n\"1\",\"2\",\"3\",\"\n4\"\n5\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv", textsrc.MaxFields(3)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 4)
		assert.Equal(t, []string{"1", "2", "3"}, got[0].Fields)
		limitErr(t, got[1], textsrc.ErrTooManyFields, "f.csv:3: record has more than 3 fields (MaxFields)")
		limitErr(t, got[2], textsrc.ErrTooManyFields, "f.csv:4-5: record has more than 3 fields (MaxFields)")
		assert.Equal(t, "\"1\",\"2\",\"3\",\"\n4\"", got[2].Raw())
		assert.Equal(t, []string{"5"}, got[3].Fields)
	})

	t.Run("by default a row may have 100,000 fields, not more", func(t *testing.T) {
		in := "a\n" + strings.Repeat(",", 99_999) + "\n" + strings.Repeat(",", 100_000) + "\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv"))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 2)
		assert.Len(t, got[0].Fields, 100_000)
		limitErr(t, got[1], textsrc.ErrTooManyFields, "f.csv:3: record has more than 100,000 fields (MaxFields)")
	})

	t.Run("Raw keeps the first 64 KiB of a long row over a limit, and Truncated says so", func(t *testing.T) {
		long := strings.Repeat("x", 100<<10)
		in := "a\n" + long + "\n" + long + ",y\n"
		got, st := drain(t, textsrc.CSV(strings.NewReader(in), "f.csv", textsrc.MaxLineBytes(99<<10), textsrc.MaxFields(1)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 2)
		limitErr(t, got[0], textsrc.ErrRecordTooLong, "f.csv:2: record is longer than 99 KiB (MaxLineBytes)")
		limitErr(t, got[1], textsrc.ErrRecordTooLong, "f.csv:3: record is longer than 99 KiB (MaxLineBytes)")
		for _, r := range got {
			assert.Equal(t, long[:64<<10], r.Raw())
			assert.True(t, r.Truncated())
		}
	})

	t.Run("a header over a limit fails the run, naming the input and the line", func(t *testing.T) {
		for _, c := range []struct {
			opt  textsrc.Option
			is   error
			text string
		}{
			{textsrc.MaxLineBytes(4), textsrc.ErrRecordTooLong, "f.csv:1: header: record is longer than 4 bytes (MaxLineBytes)"},
			{textsrc.MaxFields(1), textsrc.ErrTooManyFields, "f.csv:1: header: record has more than 1 fields (MaxFields)"},
		} {
			got, st := drain(t, textsrc.CSV(strings.NewReader("id,name\n1,2\n"), "f.csv", c.opt))

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Empty(t, got)
			assert.ErrorIs(t, st.Err, c.is)
			var le *textsrc.LineError
			require.ErrorAs(t, st.Err, &le)
			assert.Equal(t, c.text, le.Error())
			assert.Equal(t, "csv", st.Stage)
		}
	})
}

// Rows longer than the source's buffer (64 KiB), with quotes, line breaks
// and delimiters in their fields, some malformed, are read as
// encoding/csv reads them, or cut where MaxLineBytes says, whether the
// reader gives them at once or a few bytes at a time.
func TestCSVLongRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	pieces := []string{"a", "bb", strings.Repeat("c", 100), ",", "\"", "\"\"", "\n", "\r\n", "\r", "é", " "}
	field := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	var in bytes.Buffer
	w := csv.NewWriter(&in)
	require.NoError(t, w.Write([]string{"a", "b", "c"}))
	for range 6 {
		row := []string{field(rng.IntN(200 << 10)), field(rng.IntN(10)), field(rng.IntN(100 << 10))}
		require.NoError(t, w.Write(row))
		w.Flush()
		switch rng.IntN(4) {
		case 0: // a bare quote, with a long tail
			in.WriteString("x\"" + strings.Repeat("y", rng.IntN(100<<10)) + "\n")
		case 1: // a long row of fields with no quote
			in.WriteString(strings.Repeat("z,", rng.IntN(80<<10)) + "z\n")
		}
	}
	in.WriteString("\"unclosed,\n" + strings.Repeat("a line, \r\n", 15<<10))
	data := in.Bytes()

	for _, c := range []struct{ maxLen, chunk int }{{0, 0}, {0, 1000}, {150 << 10, 1000}} {
		t.Run(fmt.Sprintf("MaxLineBytes %d, reads of %d bytes", c.maxLen, c.chunk), func(t *testing.T) {
			cfg := fuzzCSVConfig{maxLen: c.maxLen, comma: ','}
			var r io.Reader = bytes.NewReader(data)
			if c.chunk > 0 {
				r = &chunky{data: data, n: c.chunk}
			}
			recs, st := drain(t, textsrc.CSV(r, "long.csv", cfg.options()...))
			_, known := checkRecords(t, data, cfg, recs, st)
			require.True(t, known)
			t.Logf("%d records, %d malformed", len(recs), countErr(recs))
		})
	}
}

func countErr(recs []textsrc.Record) int {
	n := 0
	for _, r := range recs {
		n += btoi(r.Err != nil)
	}
	return n
}

// A live input's rows come as soon as they are written: the source waits
// for no more bytes than a row takes, a row quoted over lines included,
// and a stop ends its wait for the next.
func TestCSVLiveRows(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = w.Close()
		_ = r.Close()
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rows := make(chan textsrc.Record, 4)
	done := make(chan pipeline.ExitStatus, 1)
	go func() {
		done <- pipeline.New(textsrc.CSV(r, "live.csv")).Sink(sink.Func(func(_ context.Context, rec textsrc.Record) error {
			rows <- rec
			return nil
		})).Run(ctx)
	}()
	write := func(s string) {
		_, err := w.WriteString(s)
		require.NoError(t, err)
	}
	next := func() textsrc.Record {
		select {
		case rec := <-rows:
			return rec
		case <-time.After(10 * time.Second):
			require.FailNow(t, "no row came")
			return textsrc.Record{}
		}
	}

	write("id,note\n1,plain\n")
	assert.Equal(t, []string{"1", "plain"}, next().Fields)
	write("2,\"two\n")
	write("lines\"\n")
	rec := next()
	assert.Equal(t, []string{"2", "two\nlines"}, rec.Fields)
	assert.Equal(t, "live.csv:3-4", rec.Where())
	write("3,\"x\"") // the row may go on: "," or a line ending tells
	write("\r\n")
	assert.Equal(t, []string{"3", "x"}, next().Fields)

	stop := time.Now()
	cancel()
	select {
	case st := <-done:
		assert.ErrorIs(t, st.Err, context.Canceled)
		t.Logf("the run ended %v after the stop", time.Since(stop))
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the run did not end after the stop")
	}
}
