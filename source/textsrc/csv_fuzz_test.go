package textsrc_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// fuzzRow has a field of most kinds DecodeCSV converts to.
type fuzzRow struct {
	ID    string         `csv:"id"`
	N     int            `csv:"n,optional"`
	F     *float64       `csv:"f,optional"`
	OK    bool           `csv:"ok,optional"`
	At    *time.Time     `csv:"at,optional"`
	Took  time.Duration  `csv:"took,optional"`
	Small uint8          `csv:"small,optional"`
	Level *level         `csv:"level,optional"`
	Name  string         // untagged: by name, if there is such a column
	Extra map[string]int // not convertible, untagged: ignored
}

// FuzzCSV feeds arbitrary bytes through CSV, with arbitrary limits, a
// delimiter of one or two bytes, LazyQuotes or not, read whole or a few
// bytes at a time, and checks every record against encoding/csv (see
// checkRecords); then through the decoders, under the Skip policy, and
// checks that the run accounts for every row and ends with code 0, or 1
// and an error naming the input, never with a panic. The seeds for the
// limits and the spans are in testdata/fuzz/FuzzCSV.
func FuzzCSV(f *testing.F) {
	for _, seed := range []struct {
		data                   string
		maxLen, maxFields, chk uint8
		flags                  uint8
	}{
		{data: "id,n,f,ok\n1,2,3.5,true\n2,x,,false\n"},
		{data: "id,name\n1,\"multi\nline\"\n2,b\"ad\n3,\"unclosed\n"},
		{data: "\ufeffid;n\r\n1;2\r\n", flags: 2},
		{data: "ID,at,took,small,level\na,2024-01-02T03:04:05Z,1h,255,low\nb,yesterday,forever,256,medium\n"},
		{data: "a,a\n1\n1,2,3\n"},
		{data: "\"id\nx\n"},
		{data: string(gzipped(f, "id,n\n1,2\n"))},
		{data: "\x1f\x8b\x08\x00"},
		{},
	} {
		f.Add([]byte(seed.data), seed.maxLen, seed.maxFields, seed.chk, seed.flags)
	}

	f.Fuzz(func(t *testing.T, data []byte, maxLen, maxFields, chunk, flags uint8) {
		cfg := fuzzCSVConfig{maxLen: int(maxLen), maxFields: int(maxFields), lazy: flags&1 != 0, comma: fuzzCommas[flags>>1&3]}
		opts := cfg.options()
		reader := func() io.Reader {
			if chunk == 0 {
				return bytes.NewReader(data)
			}
			return &chunky{data: data, n: int(chunk)}
		}

		recs, st := drain(t, textsrc.CSV(reader(), "fuzz.csv", opts...))
		var pe *stage.PanicError
		require.False(t, errors.As(st.Err, &pe), "a panic: %v", st.Err)
		good, known := checkRecords(t, data, cfg, recs, st)

		var rows []fuzzRow
		st = pipeline.New(textsrc.CSV(reader(), "fuzz.csv", opts...), pipeline.WithoutFailureBudget()).
			Via(textsrc.DecodeCSV[fuzzRow](stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&rows)).
			Run(t.Context())
		checkSkipRun(t, st, len(rows), "csv")
		if known {
			assert.Equal(t, int64(len(recs)), st.Counts.In, "every row after the header is emitted")
		}

		var maps []map[string]string
		st = pipeline.New(textsrc.CSV(reader(), "fuzz.csv", opts...), pipeline.WithoutFailureBudget()).
			Via(textsrc.DecodeCSVMap(stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&maps)).
			Run(t.Context())
		checkSkipRun(t, st, len(maps), "csv")
		if known {
			assert.Equal(t, good, maps)
		}
	})
}

// fuzzCommas are the delimiters FuzzCSV tries: two bytes long for 'é'.
var fuzzCommas = [4]rune{',', ';', '\t', 'é'}

// fuzzCSVConfig is how FuzzCSV reads an input: a limit of 0 is the default.
type fuzzCSVConfig struct {
	maxLen, maxFields int
	lazy              bool
	comma             rune
}

func (c fuzzCSVConfig) options() []textsrc.Option {
	opts := []textsrc.Option{textsrc.Comma(c.comma)}
	if c.lazy {
		opts = append(opts, textsrc.LazyQuotes())
	}
	if c.maxLen > 0 {
		opts = append(opts, textsrc.MaxLineBytes(c.maxLen))
	}
	if c.maxFields > 0 {
		opts = append(opts, textsrc.MaxFields(c.maxFields))
	}
	return opts
}

// chunky reads data at most n bytes at a time, so that a record spans
// several of the source's reads.
type chunky struct {
	data []byte
	n    int
}

func (r *chunky) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// checkRecords checks what CSV made of data (recs, and how the run ended)
// against encoding/csv, record by record: each record's lines hold exactly
// the record encoding/csv reads from its first line on, with its fields
// and error (positions included), or it is over a limit and says which;
// and the lines between records are empty, so that nothing is lost. With
// no limits, the records are those encoding/csv reads from the whole
// input. It returns what DecodeCSVMap makes of the records, and whether
// it knows: not for a gzip input or a failed run.
func checkRecords(t *testing.T, data []byte, cfg fuzzCSVConfig, recs []textsrc.Record, st pipeline.ExitStatus) ([]map[string]string, bool) {
	t.Helper()
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return nil, false // gzip: the other checks only
	}
	in := bytes.TrimPrefix(data, []byte("\ufeff"))
	ref := &csvReference{in: in, cfg: cfg, atLine: 1}
	if cfg.maxLen == 0 {
		ref.cfg.maxLen = textsrc.DefaultMaxLineBytes
	}
	if cfg.maxFields == 0 {
		ref.cfg.maxFields = textsrc.DefaultMaxFields
	}

	off := ref.skipBlank(0)
	if off == len(in) {
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Empty(t, recs)
		return nil, true
	}
	header, hdrErr, hdrLen := ref.first(off)
	if hdrErr != nil {
		require.Equal(t, pipeline.CodeFailure, st.Code, "the header is bad (%v): %s", hdrErr, st.Message)
		require.Empty(t, recs)
		var le *textsrc.LineError
		require.ErrorAs(t, st.Err, &le)
		require.Equal(t, ref.lineAt(off), le.Line, "the failure names the header's line")
		return nil, false
	}
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	off += hdrLen

	var maps []map[string]string
	for i, rec := range recs {
		off = ref.skipBlank(off)
		// Plain checks first, testify's to say what is wrong: there may
		// be many records.
		if off >= len(in) || rec.Line != ref.lineAt(off) || rec.EndLine < rec.Line || !slices.Equal(header, rec.Header) {
			require.Less(t, off, len(in), "record %d (%s) after the end of the input", i, rec.Where())
			require.Equal(t, ref.lineAt(off), rec.Line, "record %d starts on the line after the last, empty ones aside", i)
			require.GreaterOrEqual(t, rec.EndLine, rec.Line)
			require.Equal(t, header, rec.Header)
		}
		b := ref.lines(off, rec.EndLine-rec.Line+1) // the record's bytes, by its lines
		ref.check(t, rec, off, b)
		off += len(b)
		if rec.Err == nil && len(rec.Fields) == len(header) && !hasDup(header) {
			m := map[string]string{}
			for j, h := range header {
				m[h] = rec.Fields[j]
			}
			maps = append(maps, m)
		}
	}
	require.Equal(t, len(in), ref.skipBlank(off), "the input goes on after the last record: lost")

	if cfg.maxLen == 0 && cfg.maxFields == 0 {
		ref.checkWhole(t, recs)
	}
	return maps, true
}

// csvReference reads an input with encoding/csv as CSV must.
type csvReference struct {
	in         []byte
	cfg        fuzzCSVConfig
	at, atLine int // an offset, and the line it is on: lineAt's cursor
}

func (r csvReference) reader(b []byte) *csv.Reader {
	cr := csv.NewReader(bytes.NewReader(b))
	cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = r.cfg.comma, r.cfg.lazy, -1
	return cr
}

// first reads the record at off with encoding/csv: its fields, its
// error (a syntax error with lines counted from the record's, or a limit it
// is over), and its length in bytes.
func (r csvReference) first(off int) ([]string, error, int) {
	cr := r.reader(r.in[off:])
	fields, err := cr.Read()
	n := int(cr.InputOffset())
	switch {
	case r.content(off, n) > r.cfg.maxLen:
		return nil, textsrc.ErrRecordTooLong, n
	case len(fields) > r.cfg.maxFields:
		return nil, textsrc.ErrTooManyFields, n
	}
	return fields, err, n
}

// content returns the length of the n bytes of the record at off, without
// the line ending that ends it: what MaxLineBytes limits. encoding/csv
// tells whether they end with one: if they do, the record read from them
// and a line more is the same. A "\r" that ends the input is a line
// ending, even in a quoted field (encoding/csv drops it).
func (r csvReference) content(off, n int) int {
	b := r.in[off : off+n]
	probe := r.reader(append(bytes.Clone(b), "\nX"...))
	_, _ = probe.Read()
	switch ext := int(probe.InputOffset()); {
	case ext == n: // a line ending ends it
		return n - lineEnding(b)
	case ext == n+1: // the input's end ends it, outside quotes: a last "\r" is dropped
		return n - btoi(bytes.HasSuffix(b, []byte("\r")))
	}
	return n - btoi(bytes.HasSuffix(b, []byte("\r"))) // the input's end ends a quoted field
}

// check checks rec, whose bytes are b, at off in the input. It is called
// for every record, and so calls no t.Helper: its messages name the record.
func (r csvReference) check(t *testing.T, rec textsrc.Record, off int, b []byte) {
	fields, err, n := r.first(off)
	size := r.content(off, n)
	// A record over MaxLineBytes may end at the end of the line where it
	// goes over, before encoding/csv ends it: cut there, its line ending
	// is the one the cut is at.
	lim := r.cfg.maxLen
	cut := errors.Is(rec.Err, textsrc.ErrRecordTooLong) && len(b) > lim && lim+bytes.IndexByte(b[lim:], '\n') == len(b)-1
	if cut {
		require.Equal(t, textsrc.ErrRecordTooLong, err, "%s", rec.Where())
		size = len(b) - lineEnding(b)
	}
	if (!cut || len(b) >= n) && n != len(b) {
		require.Equal(t, n, len(b), "%s: %q, encoding/csv reads %q", rec.Where(), b, r.in[off:off+n])
	}
	switch {
	case errors.Is(err, textsrc.ErrRecordTooLong), errors.Is(err, textsrc.ErrTooManyFields):
		require.ErrorIs(t, rec.Err, err, "%s", rec.Where())
		require.Nil(t, rec.Fields)
	case err != nil:
		var pe, want *csv.ParseError
		require.ErrorAs(t, rec.Err, &pe, "%s: %v", rec.Where(), rec.Err)
		require.ErrorAs(t, err, &want)
		shift := rec.Line - 1
		assert.Equal(t, csv.ParseError{StartLine: want.StartLine + shift, Line: want.Line + shift, Column: want.Column, Err: want.Err}, *pe)
		assert.Equal(t, fields, rec.Fields)
	default:
		if rec.Err != nil || !slices.Equal(fields, rec.Fields) {
			require.NoError(t, rec.Err, "%s", rec.Where())
			require.Equal(t, fields, rec.Fields, "%s", rec.Where())
		}
	}
	// Raw is the record's text, or the first 64 KiB of a long one.
	raw := string(b[:size])
	if long := len(raw) > 64<<10; long != rec.Truncated() {
		require.Equal(t, long, rec.Truncated(), "%s is %d bytes long", rec.Where(), len(raw))
	}
	if rec.Truncated() {
		raw = raw[:64<<10]
	}
	if raw != rec.Raw() {
		assert.Equal(t, raw, rec.Raw(), "%s", rec.Where())
	}
}

// checkWhole checks that recs are the records encoding/csv reads from the
// whole input, on the same lines.
func (r csvReference) checkWhole(t *testing.T, recs []textsrc.Record) {
	t.Helper()
	cr := r.reader(r.in)
	_, _ = cr.Read() // the header
	for i := 0; ; i++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			require.Len(t, recs, i)
			return
		}
		require.Less(t, i, len(recs))
		assert.Equal(t, fields, recs[i].Fields)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			assert.ErrorIs(t, recs[i].Err, pe.Err)
			assert.Equal(t, pe.StartLine, recs[i].Line)
			continue
		}
		require.NoError(t, recs[i].Err)
		line, _ := cr.FieldPos(0)
		assert.Equal(t, line, recs[i].Line)
	}
}

// skipBlank returns where the first line at or after off that is not
// empty starts, or the input's length.
func (r csvReference) skipBlank(off int) int {
	for {
		rest := r.in[off:]
		switch {
		case bytes.HasPrefix(rest, []byte("\n")):
			off++
		case bytes.HasPrefix(rest, []byte("\r\n")):
			off += 2
		case len(rest) == 1 && rest[0] == '\r':
			return len(r.in)
		default:
			return off
		}
	}
}

// lineAt returns the line off is on, counting from 1, counting on from
// the last call's offset when off is after it.
func (r *csvReference) lineAt(off int) int {
	if off < r.at {
		r.at, r.atLine = 0, 1
	}
	r.atLine += bytes.Count(r.in[r.at:off], []byte("\n"))
	r.at = off
	return r.atLine
}

// lines returns the n lines at off, line endings included.
func (r csvReference) lines(off, n int) []byte {
	end := off
	for range n {
		i := bytes.IndexByte(r.in[end:], '\n')
		if i < 0 {
			return r.in[off:]
		}
		end += i + 1
	}
	return r.in[off:end]
}

// lineEnding returns the length of the line ending b ends with.
func lineEnding(b []byte) int {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return 2
	case bytes.HasSuffix(b, []byte("\n")):
		return 1
	}
	return 0
}

func hasDup(names []string) bool {
	seen := map[string]bool{}
	for _, h := range names {
		if seen[h] {
			return true
		}
		seen[h] = true
	}
	return false
}

// checkSkipRun checks how a run under the Skip policy ended: code 0 with
// every item done or skipped, or code 1 with a source error naming the
// input; never a panic. done is how many items reached the sink. The runs
// have no failure budget: an input of nothing but bad rows is fine here.
func checkSkipRun(t *testing.T, st pipeline.ExitStatus, done int, src string) {
	t.Helper()
	var pe *stage.PanicError
	require.False(t, errors.As(st.Err, &pe), "a panic: %v", st.Err)
	c := st.Counts
	require.Equal(t, c.In, c.Done+c.Dropped+c.Skipped+c.DeadLettered+c.Failed+c.Abandoned, "%+v", c)
	require.Equal(t, int64(done), c.Done)
	require.Zero(t, c.DeadLettered)
	switch st.Code {
	case pipeline.CodeSuccess:
		require.NoError(t, st.Err)
		require.Zero(t, c.Failed)
		require.Zero(t, c.Abandoned)
	case pipeline.CodeFailure:
		require.Error(t, st.Err)
		require.Equal(t, src, st.Stage, "under Skip only the source fails the run: %v", st.Err)
		require.Contains(t, st.Message, "fuzz.")
	default:
		t.Fatalf("code %d: %s", st.Code, st.Message)
	}
}
