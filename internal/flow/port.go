package flow

import "context"

// Port is the typed entrance of a stage as seen from the stage before it.
//
// Consecutive sequential stages are fused: the Port of a Map calls the Port
// of the stage after it directly, in the same goroutine, so no channel sits
// between them. Stages that change concurrency (ParMap, a timed Batch) hand
// items to their own goroutines through bounded channels behind their Port.
//
// A Port is used by one goroutine at a time: Push is never called
// concurrently, and Close is called once, after the last Push.
type Port[T any] interface {
	// Push hands one item downstream. It may block while the stages after it
	// are busy (backpressure) and then returns ctx's error once ctx is done.
	// A non-nil error stops the run: it is either ctx's error or a failure
	// that the error policy made fatal. t says which source items v stands
	// for; the stage passes it on with v, or settles it (Run.Settle) when v
	// goes no further.
	Push(ctx context.Context, v T, t Tag) error
	// Close marks the end of the stream: the stage passes on what it still
	// holds (a partial batch) and closes the Port after it.
	Close(ctx context.Context) error
}
