package stage

import (
	"context"
	"fmt"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Next builds the stages whose types follow from the previous stage's
// output type T, so that pipeline's untyped chain methods (Filter, Tap,
// Batch, Log) can make typed stages without reflection per item. Functions
// are checked against T once, when the stage is made; a mismatch makes a
// stage that reports both types when the pipeline is built.
type Next interface {
	// Filter accepts func(context.Context, T) (bool, error) or func(T) bool.
	Filter(keep any, opts ...Option) Stage
	// Tap accepts func(context.Context, T) error or func(T).
	Tap(f any, opts ...Option) Stage
	// Batch groups T items into []T.
	Batch(size int, opts ...Option) Stage
	// Log logs T items.
	Log(msg string, opts ...Option) Stage
}

// NextOf returns the Next for items of type T.
func NextOf[T any]() Next { return next[T]{} }

type next[T any] struct{}

func (next[T]) Filter(keep any, opts ...Option) Stage { return filterAny[T](keep, opts, NextOf[T]) }
func (next[T]) Tap(f any, opts ...Option) Stage       { return tapAny[T](f, opts, NextOf[T]) }
func (next[T]) Batch(size int, opts ...Option) Stage  { return Batch[T](size, opts...) }
func (next[T]) Log(msg string, opts ...Option) Stage  { return logStage[T](msg, opts, NextOf[T]) }

// afterBatch builds the stages that may follow an untyped Batch. It cannot
// batch again: Go must know every type a program uses when it compiles it,
// and "a batch of what came before", without end, would be infinitely many.
// A batch of batches stays possible with a typed stage:
// Via(stage.Batch[[]T](n)).
type afterBatch[T any] struct{}

func afterBatchOf[T any]() Next { return afterBatch[T]{} }

func (afterBatch[T]) Filter(keep any, opts ...Option) Stage {
	return filterAny[T](keep, opts, afterBatchOf[T])
}
func (afterBatch[T]) Tap(f any, opts ...Option) Stage { return tapAny[T](f, opts, afterBatchOf[T]) }
func (afterBatch[T]) Log(msg string, opts ...Option) Stage {
	return logStage[T](msg, opts, afterBatchOf[T])
}
func (afterBatch[T]) Batch(int, ...Option) Stage {
	return invalidStage[struct{}, struct{}]("batch",
		"a Batch right after an untyped Batch cannot be typed: use Via(stage.Batch[[]T](n)) with T spelled out")
}

// filterAny makes a Filter from keep if it has one of the accepted types.
func filterAny[T any](keep any, opts []Option, nx func() Next) Stage {
	switch f := keep.(type) {
	case func(context.Context, T) (bool, error):
		return filterStage("filter", f, opts, nx)
	case func(T) bool:
		if f == nil {
			return filterStage[T]("filter", nil, opts, nx)
		}
		return filterStage("filter", func(_ context.Context, v T) (bool, error) { return f(v), nil }, opts, nx)
	}
	t := flow.TypeOf[T]()
	return invalidStage[T, T](collect("filter", opts).name, fmt.Sprintf(
		"filter function is %T; after a stage giving %v it must be func(context.Context, %v) (bool, error) or func(%v) bool",
		keep, t, t, t))
}

// tapAny makes a Tap from f if it has one of the accepted types.
func tapAny[T any](f any, opts []Option, nx func() Next) Stage {
	switch g := f.(type) {
	case func(context.Context, T) error:
		return tapStage(g, opts, nx)
	case func(T):
		if g == nil {
			return tapStage[T](nil, opts, nx)
		}
		return tapStage(func(_ context.Context, v T) error { g(v); return nil }, opts, nx)
	}
	t := flow.TypeOf[T]()
	return invalidStage[T, T](collect("tap", opts).name, fmt.Sprintf(
		"tap function is %T; after a stage giving %v it must be func(context.Context, %v) error or func(%v)",
		f, t, t, t))
}

// brokenNext follows an invalid stage, whose output type may be a stand-in.
type brokenNext struct{}

func (brokenNext) Filter(any, ...Option) Stage { return brokenStage("filter") }
func (brokenNext) Tap(any, ...Option) Stage    { return brokenStage("tap") }
func (brokenNext) Log(string, ...Option) Stage { return brokenStage("log") }
func (brokenNext) Batch(int, ...Option) Stage  { return brokenStage("batch") }

func brokenStage(name string) Stage {
	return invalidStage[struct{}, struct{}](name, "follows a stage that cannot be typed; see the error before it")
}
