package source

import (
	"context"
	"errors"
	"sync"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// errNilReject is the cause of an input rejected with a nil error.
var errNilReject = errors.New("rejected with a nil error")

// Reject reports an input that the generator running under ctx cannot make
// an item of: a line too long to hold, a message that does not decode. The
// input counts as an item the source emitted (Counts.In) that failed, and
// the pipeline's error policy (pipeline.OnError) settles it, as it would
// an item whose stage failed, in the source's name, with label naming it
// in errors, logs and dead letters:
//
//   - Skip counts it in Counts.Skipped;
//   - a dead-letter policy hands item, label and err to its function
//     (serialized with every other dead letter of the run), and counts it
//     in Counts.DeadLettered;
//   - Retry takes its fallback at once: the same input would fail again;
//   - FailFast counts it in Counts.Failed and fails the run (code 1).
//
// Reject returns nil when the run goes on. Otherwise it returns the error
// that stops the run, a *stage.Error naming the source and label that
// wraps err (or the dead-letter function's error), and the generator must
// return it: its context is done, so that yield says false from its next
// call on. Were the generator to return anything else, the run fails with
// that error anyway. When the run is stopping hard (a cancelled context),
// the input is abandoned and Reject returns the context's error.
//
// ctx must be the generator's context (of Func, WithReceipts, or a source
// under Merge), or one made from it. Outside a run, Reject returns err. It
// may be called from several goroutines at once, unlike yield. It costs a
// few allocations per call, and nothing to the items that are yielded.
func Reject(ctx context.Context, item any, label string, err error) error {
	if err == nil {
		err = errNilReject
	}
	g, ok := ctx.Value(genKey{}).(*genRun)
	if !ok {
		return err
	}
	return g.reject(item, label, err)
}

// genKey is the key of the *genRun a generator's context carries.
type genKey struct{}

// genRun is what a generator's context carries of its source's run.
type genRun struct {
	// ctx is the run's context, which only a hard stop or a failure
	// cancels, not a drain: a rejected input is taken from the source, and
	// the policy settles it even while the run drains.
	ctx  context.Context
	sc   *flow.Scope
	stop func() // cancels the generator's context

	mu    sync.Mutex
	fatal error // the first error of a Reject that failed the run
}

// reject applies the run's policy to an input the generator rejects.
func (g *genRun) reject(item any, label string, err error) error {
	g.sc.Run.Counts.In.Add(1)
	guard, gerr := flow.NewGuard(g.sc, nil, func(any) string { return label })
	if gerr != nil {
		return gerr // the pipeline's policy is invalid: its build has reported it already
	}
	// Marked permanent, the error takes a Retry policy's fallback at once,
	// and f is never called.
	_, _, ferr := flow.Recover(g.ctx, guard, 0, item, flow.One(), flow.Permanent(err),
		func(context.Context, any) (any, error) { return nil, err })
	if ferr == nil || g.ctx.Err() != nil {
		return ferr
	}
	g.mu.Lock()
	if g.fatal == nil {
		g.fatal = ferr
	}
	g.mu.Unlock()
	g.stop()
	return ferr
}

// failed returns the error of a Reject that failed the run, or nil.
func (g *genRun) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fatal
}
