package source

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Receipt is what a source attaches to an item when it must learn how the
// item left the pipeline: a message queue that redelivers what is not
// acknowledged. The run calls its Settle once, after the item and
// everything made from it have left the pipeline:
//
//   - Done: the sink wrote all of it (a batch: every member; a FlatMap
//     parent: all its children);
//   - Dropped: a Filter left it out, or a FlatMap made nothing of it;
//   - Skipped, DeadLettered: it failed for good under the Skip or
//     dead-letter policy (after its dead-letter function returned);
//   - Requeued: it failed under a Retry policy that has attempts left; the
//     source should deliver it again after the given delay. Each delivery
//     counts as one attempt (Delivery), and the last one, or the policy's
//     last attempt, takes the policy's fallback instead;
//   - Failed: its failure stopped the run.
//
// An item still in the pipeline when the run stops hard or fails is not
// settled: the source learns that it was abandoned from its own run's end.
type Receipt = flow.Receipt

// Outcome is how an item left the pipeline, as told to its Receipt.
type Outcome = flow.Outcome

// The outcomes told to a Receipt.
const (
	Dropped      = flow.Dropped
	Done         = flow.Done
	Skipped      = flow.Skipped
	DeadLettered = flow.DeadLettered
	Requeued     = flow.Requeued
	Failed       = flow.Failed
)

// WithReceipts makes a source from a generator, as Func does, whose items
// each come with a Receipt (or nil for an item that needs none). It is the
// building block of sources such as source/jetstream. Merge does not take
// such sources. yield must not be called from several goroutines at once,
// as with Func.
func WithReceipts[T any](gen func(ctx context.Context, yield func(T, Receipt) bool) error) *Of[T] {
	if gen == nil {
		return &Of[T]{name: "source", invalid: "nil generator"}
	}
	return &Of[T]{name: "source", genR: gen}
}
