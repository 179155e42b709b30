package sink

import "context"

// Collect appends every item to *dst, in arrival order. Read *dst after Run
// returns; it is not safe to read while the pipeline runs. A nil dst makes a
// sink that reports so when the pipeline is built.
func Collect[T any](dst *[]T) *Of[T] {
	if dst == nil {
		return &Of[T]{name: "collect", invalid: "nil destination slice pointer"}
	}
	return Func(func(_ context.Context, v T) error {
		*dst = append(*dst, v)
		return nil
	}).Named("collect")
}
