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
	// Header is the input's first row. Every record of a run shares the
	// same slice: do not change it.
	Header []string
	// Fields are the row's values, as many as the row has, which may differ
	// from the header's length. For a malformed row, they are the fields
	// read before the fault.
	Fields []string
	// Err, when not nil, says why the row is malformed: a *LineError
	// wrapping the *csv.ParseError. The decode stages fail such a record
	// with it.
	Err error
}

// Where names the record as "file:line", the label the decode stages give
// it in errors and logs.
func (r Record) Where() string { return r.File + ":" + strconv.Itoa(r.Line) }

// CSV emits the rows of the CSV input r, named name, after its first row,
// which is the header every Record carries. Rows may have any number of
// fields. Comma sets the delimiter and LazyQuotes relaxes the quoting rules;
// gzip and a byte order mark are handled as by Lines.
//
// A malformed row (a bare quote, say) does not stop the source: it is
// emitted as a Record whose Err says what is wrong and where, and reading
// goes on with the next row. A malformed header, or an input that cannot be
// read further (a broken gzip stream), fails the run with an error naming
// the input and the line. An empty input emits nothing.
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
	in, err := f.input(cfg.gzip)
	if err != nil {
		return stopped(ctx, err)
	}
	cr := csv.NewReader(in.Reader) // reads through in's buffer: a large enough *bufio.Reader
	cr.Comma = cfg.comma
	cr.LazyQuotes = cfg.lazyQuotes
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false

	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return stopped(ctx, csvErr(in, name, 1, "header: ", err))
	}
	next := endLine(cr, header) + 1 // the line reading goes on from
	offset := cr.InputOffset()
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		rec := Record{File: name, Header: header, Fields: fields}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && cr.InputOffset() > offset:
			// encoding/csv has read past the malformed row: go on.
			rec.Line, rec.Err = pe.StartLine, &LineError{File: name, Line: pe.StartLine, Err: pe}
			next = pe.Line + 1
		case err != nil:
			return stopped(ctx, csvErr(in, name, next, "", err))
		default:
			rec.Line, _ = cr.FieldPos(0)
			next = endLine(cr, fields) + 1
		}
		offset = cr.InputOffset()
		if !yield(rec) {
			return nil
		}
	}
}

// endLine returns the line the record cr has just read ends on.
func endLine(cr *csv.Reader, fields []string) int {
	last := len(fields) - 1
	line, _ := cr.FieldPos(last)
	return line + strings.Count(fields[last], "\n")
}

// csvErr names the input and the line of an error from encoding/csv: the
// line a syntax error is on, or line for a failed read. prefix says what
// was being read.
func csvErr(in *input, name string, line int, prefix string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line = pe.StartLine
	} else {
		err = in.readErr(err)
	}
	if prefix != "" {
		err = fmt.Errorf("%s%w", prefix, err)
	}
	return &LineError{File: name, Line: line, Err: err}
}

// Raw returns the record's fields as one CSV row: what a dead-letter file
// keeps of it.
func (r Record) Raw() string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(r.Fields) // into a strings.Builder: cannot fail
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}
