package flow

import (
	"context"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Guard applies one stage's error policy to the calls it makes into user
// code. It is made once per stage when the pipeline is built.
type Guard[In any] struct {
	sc     *Scope
	policy Policy
	label  func(In) string
}

// NewGuard returns the guard of the stage in sc. override, when not nil,
// replaces the pipeline's default policy for this stage; label, when not
// nil, names items in errors and logs.
func NewGuard[In any](sc *Scope, override *Policy, label func(In) string) (*Guard[In], error) {
	p := sc.Run.Policy
	if override != nil {
		p = *override
	}
	if err := p.Validate(); err != nil {
		return nil, sc.Invalid(err.Error())
	}
	return &Guard[In]{sc: sc, policy: p, label: label}, nil
}

// Label names the idx-th item the stage received: the label function's
// result, or "#idx". A panicking label function falls back to "#idx".
func (g *Guard[In]) Label(idx int64, in In) (l string) {
	if g.label != nil {
		defer func() {
			if recover() != nil {
				l = "#" + strconv.FormatInt(idx, 10)
			}
		}()
		return g.label(in)
	}
	return "#" + strconv.FormatInt(idx, 10)
}

// Call runs f on the idx-th item, tagged t, under the stage's policy. ok is
// false when the item goes no further: it was skipped or dead-lettered (and
// t is settled so), or err is not nil and the run must stop (a fatal
// failure, settled as Failed, or ctx is done). A panic in f is an error
// carrying its stack. The success path costs one deferred recover.
func Call[In, Out any](ctx context.Context, g *Guard[In], idx int64, in In, t Tag, f func(context.Context, In) (Out, error)) (out Out, ok bool, err error) {
	out, err = protect(ctx, in, f)
	if err == nil {
		return out, true, nil
	}
	return recoverItem(ctx, g, idx, in, t, err, f)
}

func protect[In, Out any](ctx context.Context, in In, f func(context.Context, In) (Out, error)) (out Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = NewPanicError(r)
		}
	}()
	return f(ctx, in)
}

// Recover is Call for an item whose first call of f, made by the caller
// (through ProtectRun, say), failed with err: it takes the policy's path
// from there, as Call would have.
func Recover[In, Out any](ctx context.Context, g *Guard[In], idx int64, in In, t Tag, err error, f func(context.Context, In) (Out, error)) (Out, bool, error) {
	return recoverItem(ctx, g, idx, in, t, err, f)
}

// ProtectRun calls f on the items of vs in turn, appending each result to
// *out, until one fails: it returns how many succeeded, and the error (or
// the panic, as a *PanicError) of the next. The items share one deferred
// recover; a caller hands the failing one to Recover.
func ProtectRun[In, Out any](ctx context.Context, vs []In, f func(context.Context, In) (Out, error), out *[]Out) (int, error) {
	return protectRun(ctx, vs, f, out)
}

// recoverItem is Call's slow path: retries, then settles the item.
func recoverItem[In, Out any](ctx context.Context, g *Guard[In], idx int64, in In, t Tag, err error, f func(context.Context, In) (Out, error)) (Out, bool, error) {
	var zero Out
	p := g.policy
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			// The run is being cancelled; the error most likely comes from
			// that, and the item is abandoned rather than failed.
			return zero, false, ctx.Err()
		}
		if p.mode != modeRetry {
			return zero, false, settle(ctx, g, p, idx, in, t, err)
		}
		if attempt >= p.attempts || IsPermanent(err) {
			p = p.fallback()
			continue
		}
		if n, last, ok := t.Delivery(); ok {
			// The source redelivers: each delivery is an attempt, and the
			// backoff is the delay before the next.
			if n >= p.attempts || last {
				p = p.fallback()
				continue
			}
			requeue(g, idx, in, t, p.backoff(n), err)
			return zero, false, nil
		}
		if err := sleep(ctx, p.backoff(attempt)); err != nil {
			return zero, false, err
		}
		g.sc.Run.Counts.Retried.Add(1)
		g.sc.Meter.retried()
		out, err2 := protect(ctx, in, f)
		if err2 == nil {
			return out, true, nil
		}
		err = err2
	}
}

// requeue hands a failed item back to its source, to be delivered again
// after the delay.
func requeue[In any](g *Guard[In], idx int64, in In, t Tag, after time.Duration, cause error) {
	g.sc.Run.Requeue(t, after)
	g.sc.Meter.retried()
	g.sc.Logger.Debug("item requeued", zap.String("item", g.Label(idx, in)), zap.Duration("after", after), zap.Error(cause))
}

// settle applies a non-retry policy to a failed item. A skipped or
// dead-lettered item that exceeds the run's failure budget returns the
// budget's error, which stops the run as a fatal failure would.
func settle[In any](ctx context.Context, g *Guard[In], p Policy, idx int64, in In, t Tag, cause error) error {
	run := g.sc.Run
	e := &Error{Stage: g.sc.Name, Index: g.sc.Index, Label: g.Label(idx, in), Err: cause}
	switch p.mode {
	case modeSkip:
		over := run.settle(t, Skipped, 0, e)
		g.sc.Meter.failed(true)
		g.sc.Logger.Debug("item skipped", zap.String("item", e.Label), zap.Error(cause))
		return budgetErr(over)
	case modeDeadLetter:
		if err := deadLetter(ctx, run, p, DeadLetter{Stage: g.sc.Name, Label: e.Label, Item: in, Err: e}); err != nil {
			fe := &Error{Stage: g.sc.Name, Index: g.sc.Index, Label: e.Label, Err: err}
			run.settle(t, Failed, 0, fe)
			g.sc.Meter.failed(false)
			return fe
		}
		over := run.settle(t, DeadLettered, 0, e)
		g.sc.Meter.failed(true)
		return budgetErr(over)
	default:
		run.settle(t, Failed, 0, e)
		g.sc.Meter.failed(false)
		return e
	}
}

// budgetErr returns b as an error, nil when b is.
func budgetErr(b *BudgetError) error {
	if b == nil {
		return nil
	}
	return b
}

func deadLetter(ctx context.Context, run *Run, p Policy, d DeadLetter) (err error) {
	run.deadMu.Lock()
	defer run.deadMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = NewPanicError(r)
		}
	}()
	if err := p.dead(ctx, d); err != nil {
		return &deadLetterError{err}
	}
	return nil
}

type deadLetterError struct{ err error }

func (e *deadLetterError) Error() string { return "dead letter: " + e.err.Error() }
func (e *deadLetterError) Unwrap() error { return e.err }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CallRun is Call for a run of items: it calls f on each item of vs (the
// idx-th item of the stage first, tagged ts, or One each when ts is nil)
// and appends the results of the items that go on to out, and their tags
// to outTs when ts is not nil. It returns out and outTs, and err as Call
// does, having appended the results of the items before the failing one.
// The run shares one deferred recover, which is what makes it cheaper than
// a Call per item; a failing item takes Call's slow path on its own.
func CallRun[In, Out any](ctx context.Context, g *Guard[In], first int64, vs []In, ts []Tag, f func(context.Context, In) (Out, error), out []Out, outTs []Tag) ([]Out, []Tag, error) {
	for i := 0; i < len(vs); {
		var j int
		var err error
		j, err = protectRun(ctx, vs[i:], f, &out)
		if ts != nil {
			outTs = append(outTs, ts[i:i+j]...)
		}
		i += j
		if i == len(vs) {
			break
		}
		// vs[i] failed.
		t := TagAt(ts, i)
		o, ok, err := recoverItem(ctx, g, first+int64(i), vs[i], t, err, f)
		if err != nil {
			return out, outTs, err
		}
		if ok {
			out = append(out, o)
			if ts != nil {
				outTs = append(outTs, t)
			}
		}
		i++
	}
	return out, outTs, nil
}

// protectRun calls f on the items of vs in turn, appending each result to
// *out, until one returns an error or panics: it returns how many
// succeeded, and the error of the next one (nil when all did).
func protectRun[In, Out any](ctx context.Context, vs []In, f func(context.Context, In) (Out, error), out *[]Out) (n int, err error) {
	res := *out // appended to in a register, not through out
	defer func() {
		*out = res
		if r := recover(); r != nil {
			err = NewPanicError(r)
		}
	}()
	for _, v := range vs {
		o, err := f(ctx, v)
		if err != nil {
			return n, err
		}
		res = append(res, o)
		n++
	}
	return n, nil
}

// CallRunSink is CallRun for a sink's function, which returns only an
// error: it saves the sink a call through an adapter per item. It returns
// how many items f accepted and, when ts is not nil, their tags appended to
// outTs.
func CallRunSink[In any](ctx context.Context, g *Guard[In], first int64, vs []In, ts []Tag, f func(context.Context, In) error, outTs []Tag) (int, []Tag, error) {
	done := 0
	for i := 0; i < len(vs); {
		j, err := protectSink(ctx, vs[i:], f)
		done += j
		if ts != nil {
			outTs = append(outTs, ts[i:i+j]...)
		}
		i += j
		if i == len(vs) {
			break
		}
		// vs[i] failed: the slow path, through an adapter.
		t := TagAt(ts, i)
		_, ok, err := recoverItem(ctx, g, first+int64(i), vs[i], t, err, func(ctx context.Context, v In) (struct{}, error) {
			return struct{}{}, f(ctx, v)
		})
		if err != nil {
			return done, outTs, err
		}
		if ok {
			done++
			if ts != nil {
				outTs = append(outTs, t)
			}
		}
		i++
	}
	return done, outTs, nil
}

// protectSink is protectRun for a sink's function.
func protectSink[In any](ctx context.Context, vs []In, f func(context.Context, In) error) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = NewPanicError(r)
		}
	}()
	for _, v := range vs {
		if err := f(ctx, v); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
