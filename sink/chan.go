package sink

import "context"

// Chan sends every item to ch, waiting while ch is full (backpressure) or
// until the run stops. The caller owns ch: Chan never closes it, so close it
// after Run returns if a reader ranges over it.
func Chan[T any](ch chan<- T) *Of[T] {
	if ch == nil {
		return &Of[T]{name: "chan", invalid: "nil channel"}
	}
	return Func(func(ctx context.Context, v T) error {
		select {
		case ch <- v:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}).Named("chan")
}
