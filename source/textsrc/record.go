package textsrc

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/conveyor-go/conveyor/source"
)

// Record is one row of a CSV input after its header row.
type Record struct {
	File string // the input's name: the path for CSVFile
	Line int    // the line the row starts on, counting from 1
	// EndLine is the line the row ends on: Line, unless a quoted field
	// holds line breaks, or the row is malformed and spans several lines
	// (an unclosed quote).
	EndLine int
	// Header is the input's first row. Every record of a run shares the
	// same slice: do not change it.
	Header []string
	// Fields are the row's values, as many as the row has, which may differ
	// from the header's length. For a malformed row, they are the fields
	// read before the fault; for a row over a limit, there are none.
	Fields []string
	// Err, when not nil, says why the row is malformed: a *LineError
	// wrapping the *csv.ParseError, ErrRecordTooLong or ErrTooManyFields.
	// The decode stages fail such a record with it.
	Err error

	raw string // the row's text, or its head; "" for a Record made by hand
	cut bool   // raw is the head of the row's text
}

// Where names the record as "file:line", or "file:line-endline" for a
// record that spans lines: the label the decode stages give it in errors
// and logs.
func (r Record) Where() string { return r.File + ":" + lineSpan(r.Line, r.EndLine) }

// lineSpan reads "line", or "line-end" when end is after line.
func lineSpan(line, end int) string {
	if end > line {
		return strconv.Itoa(line) + "-" + strconv.Itoa(end)
	}
	return strconv.Itoa(line)
}

// CSV emits the rows of the CSV input r, named name, after its first row,
// which is the header every Record carries. Rows may have any number of
// fields. Comma sets the delimiter and LazyQuotes relaxes the quoting rules;
// gzip and a byte order mark are handled as by Lines. The fields and
// errors are those of encoding/csv's Reader (with FieldsPerRecord -1): the
// source finds where each row ends, then splits a row without a syntax
// error that its 64 KiB buffer holds whole itself, into one string that
// holds the row's text (Record.Raw) and that its fields are slices of, and
// has encoding/csv parse any other.
//
// A malformed row (a bare quote, say) does not stop the source: it is
// emitted as a Record whose Err says what is wrong and where, and reading
// goes on with the next row. So is a row over a limit: longer than
// MaxLineBytes (16 MiB by default; all its lines count, the line ending
// that ends it does not), failing with ErrRecordTooLong, or with more
// fields than MaxFields (100,000 by default), failing with
// ErrTooManyFields. The source reads such a row to its end without holding
// more of it than the limit, nor splitting it into fields.
//
// A row whose quoted field holds line breaks spans lines, and is named by
// its span: "orders.csv:3-6" (Record.Where). A quote left open makes a
// malformed row that ends at the end of the input or, if that comes first,
// at the end of the line where the row goes over MaxLineBytes; reading
// goes on with the next line. Record.Raw gives the row's text as read,
// unclosed quote and all.
//
// A malformed header, or one over a limit, fails the run with an error
// naming the input and the line ("orders.csv:1: header: ..."), and so does
// an input that cannot be read further (a broken gzip stream). An empty
// input emits nothing.
//
// CSV reads r and does not close it, as Lines does; a second run goes on
// with the row after the last one the first emitted, and reads it as its
// header. A stop never waits for input, as for Lines, with the same one
// exception: an arbitrary io.Reader blocked in Read, which the run leaves
// behind (ExitStatus.LeftBehind). A row that a stop cuts is lost.
func CSV(r io.Reader, name string, opts ...Option) *source.Of[Record] {
	cfg, bad := collect("csv", name, opts)
	if bad != "" {
		return source.Invalid[Record]("csv", bad)
	}
	f := newFeed(r, name)
	return source.Func(func(ctx context.Context, yield func(Record) bool) error {
		return readCSV(ctx, f, cfg, yield)
	}).Named("csv")
}

// CSVFile emits the rows of the CSV file at path, as CSV does, with the path
// as the records' File. The file is opened when the run starts and closed
// when the source ends; an error opening it names the path. A stop ends a
// wait for input, opening a FIFO included, as for LinesFile.
func CSVFile(path string, opts ...Option) *source.Of[Record] {
	cfg, bad := collect("csv", path, opts)
	if bad != "" {
		return source.Invalid[Record]("csv", bad)
	}
	return source.Func(func(ctx context.Context, yield func(Record) bool) error {
		return withFile(ctx, path, func(f *os.File) error {
			return readCSV(ctx, newFeed(f, path), cfg, yield)
		})
	}).Named("csv")
}

// readCSV is the generator of CSV and CSVFile.
func readCSV(ctx context.Context, f *feed, cfg config, yield func(Record) bool) error {
	name := f.name
	if err := checkComma(name, cfg.comma); err != nil {
		return err
	}
	done, err := f.take(ctx)
	if err != nil {
		return err
	}
	defer done()
	in, err := f.open(cfg)
	if err != nil {
		return stopped(ctx, err)
	}
	sc, p := newCSVScanner(in, cfg), newCSVParser(cfg)
	// failed names the line of a read that failed: the start of the row
	// it was in, or the line after the last row.
	failed := func(c *csvChunk, err error) error {
		if errors.Is(err, io.EOF) {
			return nil
		}
		line := c.start
		if line == 0 {
			line = sc.line + 1
		}
		return stopped(ctx, &LineError{File: name, Line: line, Err: in.readErr(err)})
	}

	c, err := sc.scan()
	if err != nil {
		return failed(c, err)
	}
	header, _, _, err := p.record(c)
	if err != nil {
		return stopped(ctx, &LineError{File: name, Line: c.start, EndLine: c.end, Err: fmt.Errorf("header: %w", err)})
	}
	for {
		c, err := sc.scan()
		if (err == nil && sc.eof) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// At the end of the input: a file that shrank under the
			// source ends so too, and its last row may be cut.
			if serr := f.src.shrank(); serr != nil {
				return rejectShrunkRow(ctx, c, sc.line+1, header, name, serr)
			}
		}
		if err != nil {
			return failed(c, err)
		}
		rec := Record{File: name, Line: c.start, EndLine: c.end, Header: header}
		rec.Fields, rec.raw, rec.cut, err = p.record(c)
		if err != nil {
			rec.Err = &LineError{File: name, Line: c.start, EndLine: c.end, Err: err}
		}
		if !yield(rec) {
			return nil
		}
	}
}

// rejectShrunkRow rejects, with err, under the pipeline's policy, the row
// at which the input named name ended because its file shrank: c, when a
// row had started (it may be cut), or the line after the last row.
func rejectShrunkRow(ctx context.Context, c *csvChunk, next int, header []string, name string, err error) error {
	rec := Record{File: name, Line: next, EndLine: next, Header: header}
	if c.start > 0 && len(c.parts) > 0 {
		rec.Line, rec.EndLine = c.start, c.end
		rec.raw, rec.cut = c.head()
	}
	rec.Err = &LineError{File: name, Line: rec.Line, EndLine: rec.EndLine, Err: err}
	return source.Reject(ctx, rec, rec.Where(), rec.Err)
}

// Raw returns the row's text as read, without the line ending that ends
// it: what a dead-letter file keeps of it. For a row longer than 64 KiB, it
// is the row's first 64 KiB, and Truncated says so. For a Record made by
// hand, it is the fields as one CSV row.
func (r Record) Raw() string {
	if r.raw != "" {
		return r.raw
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(r.Fields) // into a strings.Builder: cannot fail
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// Truncated reports whether Raw is only the head of the row's text.
func (r Record) Truncated() bool { return r.cut }

// thousands reads n with its thousands separated by commas: "100,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
