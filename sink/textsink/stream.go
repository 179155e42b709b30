package textsink

import (
	"context"
	"io"

	"github.com/conveyor-go/conveyor/sink"
)

// streamWriter is a sink.Writer to an io.Writer the caller owns. It is a
// sink.Flusher: the sink flushes it an interval after a write, so that
// what it writes is seen downstream while the run goes on, and settles the
// items' receipts then.
type streamWriter[T any] struct{ buffered[T] }

var _ sink.Flusher = (*streamWriter[int])(nil)

func newStream[T any](w io.Writer, enc encoder[T]) *streamWriter[T] {
	return &streamWriter[T]{newBuffered(w, enc)}
}

func (s *streamWriter[T]) Write(_ context.Context, v T) error { return s.write(v) }

// Flush hands what is buffered to the caller's writer.
func (s *streamWriter[T]) Flush(context.Context) error { return s.buf.Flush() }

func (s *streamWriter[T]) Commit(context.Context) error { return s.end() }

// Abort leaves the caller's writer as it is, with whatever was flushed to
// it already: only a file can be taken back.
func (s *streamWriter[T]) Abort() error { return nil }
