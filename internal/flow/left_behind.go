package flow

import (
	"context"

	"go.uber.org/zap"
)

// LeaveBehind records that one goroutine of the run outlives it: a read
// blocked inside a user's io.Reader, which no deadline or close can end.
// The goroutine ends by itself once that read returns. what names the
// reader, for the warning logged.
func (r *Run) LeaveBehind(what string) {
	r.leftBehind.Add(1)
	r.Logger.Warn("a goroutine is left behind: the run returns without waiting for it", zap.String("blocked in", what))
}

// LeftBehind returns how many goroutines LeaveBehind has counted.
func (r *Run) LeftBehind() int { return int(r.leftBehind.Load()) }

type runKey struct{}

// WithRun returns a context that carries r, for code that sees only a
// context (a source's generator) and must tell the run what it leaves
// behind.
func WithRun(ctx context.Context, r *Run) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

// RunOf returns the run ctx carries (WithRun), or nil.
func RunOf(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}
