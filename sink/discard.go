package sink

import "context"

// Discard accepts every item and drops it; each still counts as done. Use it
// when the stages before it do the work, or to measure them.
func Discard[T any]() *Of[T] {
	return Func(func(context.Context, T) error { return nil }).Named("discard")
}
