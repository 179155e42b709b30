package source

import "context"

// Chan emits what arrives on ch until ch is closed. The caller owns ch and
// closes it. A drain or a failure stops the source even while it waits on
// ch; values still in ch are then left there.
func Chan[T any](ch <-chan T) *Of[T] {
	if ch == nil {
		return &Of[T]{name: "chan", invalid: "nil channel"}
	}
	return Func(func(ctx context.Context, yield func(T) bool) error {
		for {
			select {
			case v, ok := <-ch:
				if !ok {
					return nil
				}
				if !yield(v) {
					return nil
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}).Named("chan")
}
