package textsink

import (
	"context"
	"io"

	"github.com/conveyor-go/conveyor/sink"
)

// Lines writes each string as a line to w, flushed within the flush
// interval (FlushEvery) and when the input ends; w is not closed.
func Lines(w io.Writer, opts ...Option) *sink.Of[string] {
	return toStream("lines", w, func() encoder[string] { return lineEncoder{} }, opts)
}

// LinesFile writes each string as a line to the file at path, atomically.
func LinesFile(path string) *sink.Of[string] {
	return toFile("lines", path, func() encoder[string] { return lineEncoder{} })
}

// JSONL writes each item as one line of JSON (encoding/json) to w, as
// Lines writes its lines.
func JSONL[T any](w io.Writer, opts ...Option) *sink.Of[T] {
	return toStream("jsonl", w, func() encoder[T] { return &jsonEncoder[T]{} }, opts)
}

// JSONLFile writes each item as one line of JSON to the file at path,
// atomically.
func JSONLFile[T any](path string) *sink.Of[T] {
	return toFile("jsonl", path, func() encoder[T] { return &jsonEncoder[T]{} })
}

// CSV writes header (none if empty), then row(v) for each item, as CSV
// (encoding/csv) to w, as Lines writes its lines. A row with a different
// number of fields than the header is an error of that item.
func CSV[T any](w io.Writer, header []string, row func(T) []string, opts ...Option) *sink.Of[T] {
	if row == nil {
		return sink.Invalid[T]("csv", "nil row function")
	}
	return toStream("csv", w, func() encoder[T] { return &csvEncoder[T]{header: header, row: row} }, opts)
}

// CSVFile is CSV to the file at path, atomically.
func CSVFile[T any](path string, header []string, row func(T) []string) *sink.Of[T] {
	if row == nil {
		return sink.Invalid[T]("csv", "nil row function")
	}
	return toFile("csv", path, func() encoder[T] { return &csvEncoder[T]{header: header, row: row} })
}

func toStream[T any](name string, w io.Writer, enc func() encoder[T], opts []Option) *sink.Of[T] {
	if w == nil {
		return sink.Invalid[T](name, "nil writer")
	}
	return sink.New(name, func(context.Context) (sink.Writer[T], error) {
		return newStream(w, enc()), nil
	}, collect(opts).sink...)
}

func toFile[T any](name, path string, enc func() encoder[T]) *sink.Of[T] {
	if path == "" {
		return sink.Invalid[T](name, "empty file path")
	}
	return sink.New(name, func(context.Context) (sink.Writer[T], error) {
		return openFile(path, enc())
	})
}
