package source

import (
	"context"
	"iter"
)

// Seq emits the items of seq in order. seq cannot watch the run's context;
// it is stopped at its next yield when the run stops.
func Seq[T any](seq iter.Seq[T]) *Of[T] {
	if seq == nil {
		return &Of[T]{name: "seq", invalid: "nil iter.Seq"}
	}
	return Func(func(_ context.Context, yield func(T) bool) error {
		seq(yield)
		return nil
	}).Named("seq")
}

// Seq2 emits the values of seq in order until it yields a non-nil error,
// which fails the run (code 1) as a source error.
func Seq2[T any](seq iter.Seq2[T, error]) *Of[T] {
	if seq == nil {
		return &Of[T]{name: "seq", invalid: "nil iter.Seq2"}
	}
	return Func(func(_ context.Context, yield func(T) bool) error {
		for v, err := range seq {
			if err != nil {
				return err
			}
			if !yield(v) {
				return nil
			}
		}
		return nil
	}).Named("seq")
}
