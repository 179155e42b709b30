package source

import "context"

// Slice emits the items of items in order. The slice is read, not copied,
// while the pipeline runs: do not change it meanwhile. A nil or empty slice
// makes an empty stream.
func Slice[T any](items []T) *Of[T] {
	return Func(func(_ context.Context, yield func(T) bool) error {
		for _, v := range items {
			if !yield(v) {
				return nil
			}
		}
		return nil
	}).Named("slice")
}
