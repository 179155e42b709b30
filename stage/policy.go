package stage

import (
	"context"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Policy says what happens to an item whose handler failed: FailFast, Skip,
// Retry or DeadLetter. Set it for a pipeline with pipeline.OnError and for
// one stage with OnError. The zero Policy is FailFast.
type Policy = flow.Policy

// DeadLetterItem is a failed item handed to a DeadLetter function, with the
// *Error that sank it.
type DeadLetterItem = flow.DeadLetter

// FailFast stops the run at the first failure: the run's context is
// cancelled, in-flight items are abandoned, the source stops, and Run
// reports code 1 with the stage and item label. The default, as in the seed.
func FailFast() Policy { return flow.FailFast() }

// Skip counts the failure (ExitStatus.Counts.Skipped), drops the item, and
// carries on.
func Skip() Policy { return flow.Skip() }

// Retry calls the handler again, up to attempts calls in all, sleeping a
// jittered exponential backoff from base up to max between calls (the sleep
// ends early if the run is cancelled). Errors wrapped with Permanent are not
// retried. Once attempts are used up the fallback set with Then applies;
// FailFast by default.
//
// An item from a source that delivers again what it is given back
// (source/jetstream, see source.Receipt) is not called again in place: it
// is requeued, and its source delivers it again after the backoff, to this
// worker or another. Each delivery counts as one attempt, and the source's
// last delivery takes the fallback too.
func Retry(attempts int, base, max time.Duration) Policy { return flow.Retry(attempts, base, max) }

// DeadLetter hands each failed item with its error to f and carries on.
// Calls to f are serialized across the whole run, so f needs no lock. An
// error from f is fatal.
func DeadLetter(f func(ctx context.Context, item DeadLetterItem) error) Policy {
	return flow.DeadLetterTo(f)
}

// InvalidPolicy returns a policy that cannot work, for reason: a pipeline
// or stage using it is invalid (code 2), naming the stage and reason,
// before anything runs. Packages that build policies (textsink's
// DeadLetters) use it to report bad arguments without panicking.
func InvalidPolicy(reason string) Policy { return flow.InvalidPolicy(reason) }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return flow.Permanent(err) }
