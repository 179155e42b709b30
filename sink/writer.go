package sink

import (
	"context"
	"errors"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Writer is what a sink made with New writes to in one run: it takes each
// item, then either commits the output, when the input has ended (the run
// finished or drained), or aborts it, when the run ended any other way (a
// failure, a cancellation, a hard stop), so that a failed run leaves no
// half-written output behind.
type Writer[T any] interface {
	Write(ctx context.Context, v T) error
	Commit(ctx context.Context) error
	Abort() error
}

// New makes a sink that opens a Writer for each run, when the first item
// arrives or the input ends, whichever is first: a run that fails before
// it opens nothing. A sink writing a file opens a temporary file there,
// renames it into place on Commit and removes it on Abort.
//
// Items with receipts (source/jetstream) are settled, and their messages
// acknowledged, only once the Writer has committed: with a source that
// never ends, such a sink holds them until the run is drained, so choose a
// sink that stores each item or batch as it writes it (sink.Func, sqlsink,
// sink/jetstream).
func New[T any](name string, open func(ctx context.Context) (Writer[T], error)) *Of[T] {
	if open == nil {
		return Invalid[T](name, "nil open function")
	}
	return &Of[T]{name: name, open: open}
}

// writing is the state of a New sink in one run.
type writing[T any] struct {
	open      func(ctx context.Context) (Writer[T], error)
	w         Writer[T]
	committed bool
}

// attachWriter returns the push and flush functions of a New sink's run,
// and registers the Abort of a run that does not commit. The sink's tally
// holds the tags of items whose source must learn that they are stored
// (receipts) until the Writer commits: an aborted run never settles them,
// so their sources deliver them again.
func (s *Of[T]) attachWriter(sc *flow.Scope, done *flow.Tally) (push func(context.Context, T) error, flush func(context.Context) error) {
	st := &writing[T]{open: s.open}
	done.HoldTracked()
	sc.Run.OnEnd(func(error) {
		if st.w != nil && !st.committed {
			if err := st.w.Abort(); err != nil {
				sc.Logger.Warn("aborting the output of a run that did not finish: " + err.Error())
			}
		}
	})
	push = func(ctx context.Context, v T) error {
		if err := st.opened(ctx); err != nil {
			return err
		}
		return st.w.Write(ctx, v)
	}
	flush = func(ctx context.Context) error {
		if err := st.opened(ctx); err != nil {
			return err
		}
		if err := st.w.Commit(ctx); err != nil {
			return &flow.Error{Stage: sc.Name, Index: sc.Index, Label: "commit", Err: err}
		}
		st.committed = true
		done.SettleHeld()
		return nil
	}
	return push, flush
}

func (st *writing[T]) opened(ctx context.Context) error {
	if st.w != nil {
		return nil
	}
	w, err := openWriter(ctx, st.open)
	st.w = w
	return err
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
