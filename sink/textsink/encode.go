package textsink

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
)

// An encoder writes items of one format to a buffered writer.
type encoder[T any] interface {
	encode(w *bufio.Writer, v T) error
	end(w *bufio.Writer) error // before the final flush
}

// lineEncoder writes strings, one per line.
type lineEncoder struct{}

func (lineEncoder) encode(w *bufio.Writer, v string) error {
	if _, err := w.WriteString(v); err != nil {
		return err
	}
	return w.WriteByte('\n')
}

func (lineEncoder) end(*bufio.Writer) error { return nil }

// jsonEncoder writes one JSON document per line.
type jsonEncoder[T any] struct{ enc *json.Encoder }

func (e *jsonEncoder[T]) encode(w *bufio.Writer, v T) error {
	if e.enc == nil {
		e.enc = json.NewEncoder(w)
		e.enc.SetEscapeHTML(false)
	}
	return e.enc.Encode(v) // writes the newline too
}

func (*jsonEncoder[T]) end(*bufio.Writer) error { return nil }

// csvEncoder writes a header row, then a row per item.
type csvEncoder[T any] struct {
	header []string
	row    func(T) []string
	w      *csv.Writer
}

func (e *csvEncoder[T]) start(w *bufio.Writer) error {
	if e.w != nil {
		return nil
	}
	e.w = csv.NewWriter(w)
	if len(e.header) == 0 {
		return nil
	}
	return e.w.Write(e.header)
}

func (e *csvEncoder[T]) encode(w *bufio.Writer, v T) error {
	if err := e.start(w); err != nil {
		return err
	}
	rec := e.row(v)
	if len(e.header) > 0 && len(rec) != len(e.header) {
		return fmt.Errorf("row has %d fields, the header %d", len(rec), len(e.header))
	}
	return e.w.Write(rec)
}

func (e *csvEncoder[T]) end(w *bufio.Writer) error {
	if err := e.start(w); err != nil { // an empty output still has its header
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

// buffered encodes items into a buffer in front of an output. A CSV
// encoder's csv.Writer writes into the same buffer: csv.NewWriter keeps a
// *bufio.Writer as large as its own as it is, so flushing buf flushes all.
type buffered[T any] struct {
	buf *bufio.Writer
	enc encoder[T]
}

func newBuffered[T any](w io.Writer, enc encoder[T]) buffered[T] {
	return buffered[T]{buf: bufio.NewWriterSize(w, bufSize), enc: enc}
}

func (b *buffered[T]) write(v T) error { return b.enc.encode(b.buf, v) }

// end writes what ends the output (nothing but for a CSV's header of an
// empty output) and flushes the buffer.
func (b *buffered[T]) end() error {
	if err := b.enc.end(b.buf); err != nil {
		return err
	}
	return b.buf.Flush()
}

// bufSize is the buffer in front of every output.
const bufSize = 64 << 10
