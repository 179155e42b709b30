package sink

import (
	"context"
	"errors"
)

// Writer is what a sink made with New writes to in one run: it takes each
// item, then either commits the output, when the input has ended (the run
// finished or drained), or aborts it, when the run ended any other way (a
// failure, a cancellation, a hard stop), so that a failed run leaves no
// half-written output behind.
//
// When the sink settles the receipts of the items it wrote (source.Receipt:
// a queue's message is acknowledged then) depends on what else the Writer
// implements: at once after each Write if it is Durable, after each Flush
// if it is a Flusher, and otherwise only once it has committed.
type Writer[T any] interface {
	Write(ctx context.Context, v T) error
	Commit(ctx context.Context) error
	Abort() error
}

// Durable is implemented by a Writer whose Write has stored its item for
// good when it returns nil, as an SQL transaction that committed has:
// Durable reports whether it has. The sink then settles each item's
// receipt as soon as its Write returns nil, and Commit and Abort concern
// only what is not an item (a Writer's connection, say).
type Durable interface {
	Durable() bool
}

// Flusher is implemented by a Writer that can hand on what it has written
// so far before the input ends: a stream written through a buffer. The
// sink calls Flush, from a goroutine of its own but never while it calls
// Write or Commit, once the flush interval (FlushEvery) has passed since
// the first item written after the last flush; so an item written is
// flushed within an interval, whether the input goes on or goes idle.
// Once Flush returns nil, the sink settles the receipts of the items
// written before it. An error from Flush fails the run, as an error from
// Commit does.
type Flusher interface {
	Flush(ctx context.Context) error
}

// New makes a sink that opens a Writer for each run, when the first item
// arrives or the input ends, whichever is first: a run that fails before
// it opens nothing. A sink writing a file opens a temporary file there,
// renames it into place on Commit and removes it on Abort.
//
// Items with receipts (source/jetstream) are settled, and their messages
// acknowledged, when the Writer has stored them: after each Write for a
// Durable Writer, after each Flush for a Flusher, and otherwise once the
// Writer has committed. A Writer that is neither holds them until the run
// is drained when its source never ends. A Writer that is not Durable is
// never called concurrently; a Durable one neither, as it is never
// flushed.
func New[T any](name string, open func(ctx context.Context) (Writer[T], error), opts ...Option) *Of[T] {
	if open == nil {
		return Invalid[T](name, "nil open function")
	}
	c := collect(opts)
	if c.invalid != "" {
		return Invalid[T](name, c.invalid)
	}
	return &Of[T]{name: name, open: open, every: c.every}
}

// openWriter opens a Writer with open, and says so in its error.
func openWriter[T any](ctx context.Context, open func(context.Context) (Writer[T], error)) (Writer[T], error) {
	w, err := open(ctx)
	if err != nil {
		return nil, errors.Join(errOpen, err)
	}
	if w == nil {
		return nil, errors.Join(errOpen, errors.New("open returned a nil Writer"))
	}
	return w, nil
}

var errOpen = errors.New("opening the sink's output")
