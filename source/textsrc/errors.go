package textsrc

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrEmptyLine is why DecodeJSON fails a line that is empty or holds
	// only spaces, tabs and "\r". Put SkipBlank before it to drop such
	// lines instead.
	ErrEmptyLine = errors.New("empty line")
	// ErrMissingColumn is why DecodeCSV fails the rows of a header that has
	// no column for a tagged field.
	ErrMissingColumn = errors.New("no such column in the header")
	// ErrDuplicateColumn is why DecodeCSV fails the rows of a header where a
	// field's name matches more than one column, and DecodeCSVMap those of a
	// header that has a column name twice.
	ErrDuplicateColumn = errors.New("more than one column of that name in the header")
	// ErrShortRow is why DecodeCSV fails a row that ends before the column
	// of a field it needs.
	ErrShortRow = errors.New("the row ends before this column")
)

// LineError is a line of text, or a CSV row, that could not be read or
// decoded: the input's name, the line (counting from 1) and the cause.
// Stages fail with it wrapped in a *stage.Error; errors.As finds it there,
// and in ExitStatus.Err.
type LineError struct {
	File string
	Line int
	// EndLine is the line a CSV row ends on, as in Record: after Line for
	// a row that spans lines. 0 means Line.
	EndLine int
	Err     error
}

// Error reads "file:line: cause", or "file:line-endline: cause" for a CSV
// row that spans lines, or "file:line:column: cause" for a CSV syntax
// error, whose line is then the one the error is on.
func (e *LineError) Error() string {
	if pe, ok := e.Err.(*csv.ParseError); ok {
		return e.File + ":" + strconv.Itoa(pe.Line) + ":" + strconv.Itoa(pe.Column) + ": " + pe.Err.Error()
	}
	return e.File + ":" + lineSpan(e.Line, e.EndLine) + ": " + errText(e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// FieldError is a CSV value that could not be decoded into its field: the
// input's name, the row's line, the column's name, its value and the cause.
type FieldError struct {
	File  string
	Line  int
	Field string // the column's name in the header, or the tag naming it
	Value string
	Err   error
}

// Error reads like `orders.csv:17: field "amount": cannot parse "12,5" as
// float64: invalid syntax`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("%s:%d: field %q: %s", e.File, e.Line, e.Field, errText(e.Err))
}

func (e *FieldError) Unwrap() error { return e.Err }

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
