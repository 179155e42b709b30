package stage

import (
	"context"
	"fmt"
	"math"

	"github.com/conveyor-go/conveyor/internal/flow"
	"golang.org/x/time/rate"
)

// RateLimit passes items on unchanged, in order, in the goroutine of the
// stage before it, at most perSecond items a second on average and at most
// burst items at once: a token bucket (golang.org/x/time/rate) that holds
// burst tokens, full at the start, and refills at perSecond. An item waits
// for its token, and the stage before it waits meanwhile. A perSecond of
// +Inf does not limit anything.
//
// Each run has a bucket of its own: running the stage in several pipelines
// at once does not share the limit between them.
//
// The wait ends early when the run is cancelled, with the context's error.
// When the context has a deadline that comes before an item's token would,
// the item waits for the deadline all the same: the run then ends as any
// run cut by its deadline does, with context.DeadlineExceeded, rather than
// at once with an error of the limiter's, and the stages after it finish
// what they hold meanwhile.
func RateLimit[T any](perSecond float64, burst int, opts ...Option) *Of[T, T] {
	o := collect("ratelimit", opts)
	if !(perSecond > 0) { // NaN too
		return invalidStage[T, T](o.name, fmt.Sprintf("rate must be > 0 items per second, got %v", perSecond))
	}
	if burst < 1 {
		return invalidStage[T, T](o.name, fmt.Sprintf("burst must be >= 1 item, got %d", burst))
	}
	if o.err != "" {
		return invalidStage[T, T](o.name, o.err)
	}
	return newOf[T, T](o.name, NextOf[T], func(sc *flow.Scope, down flow.Port[T]) (flow.Port[T], error) {
		if math.IsInf(perSecond, 1) {
			return down, nil // no limit: fuse the stage away
		}
		return &rateLimitPort[T]{lim: rate.NewLimiter(rate.Limit(perSecond), burst), burst: burst, down: flow.Runs(down)}, nil
	})
}

type rateLimitPort[T any] struct {
	lim   *rate.Limiter
	burst int
	down  flow.RunPort[T]
}

func (r *rateLimitPort[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	if err := r.wait(ctx, 1); err != nil {
		return err
	}
	return r.down.Push(ctx, v, t)
}

// PushRun passes the run on in runs of as many items as have tokens: each
// item goes no earlier than it would one at a time, and none waits for the
// items after it. While tokens are short, that is one item at a time.
func (r *rateLimitPort[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	for len(vs) > 0 {
		// The tokens can only grow until wait takes them: this goroutine
		// is the bucket's only user.
		k := min(len(vs), r.burst, max(1, int(r.lim.Tokens())))
		if err := r.wait(ctx, k); err != nil {
			return err
		}
		var kts []flow.Tag
		if ts != nil {
			kts, ts = ts[:k], ts[k:]
		}
		if err := r.down.PushRun(ctx, vs[:k], kts); err != nil {
			return err
		}
		vs = vs[k:]
	}
	return nil
}

// wait takes n tokens (n <= burst), waiting for them if need be.
func (r *rateLimitPort[T]) wait(ctx context.Context, n int) error {
	err := r.lim.WaitN(ctx, n)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, ok := ctx.Deadline(); ok {
		// The tokens would come after ctx's deadline: WaitN says so at
		// once, without waiting. Wait for the deadline, as the item would
		// have, so that the run ends as any other would at its deadline.
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (r *rateLimitPort[T]) Close(ctx context.Context) error { return r.down.Close(ctx) }
