package flow

import "context"

// RunPort is a Port that also takes items a run at a time: a source's next
// items, or a chunk that crossed from another goroutine. One call per run
// instead of one per item is what lets fused stages cost a few nanoseconds
// per item; a stage passes its output on a run at a time too.
type RunPort[T any] interface {
	Port[T]
	// PushRun hands the items vs downstream, in order, as Push would one by
	// one. ts holds their tags, or is nil when every item is fresh from the
	// source (tagged One). The callee must not keep vs or ts, nor write to
	// them.
	PushRun(ctx context.Context, vs []T, ts []Tag) error
}

// Runs returns p as a RunPort: p itself when it takes runs, otherwise a
// RunPort that pushes the items of each run one by one.
func Runs[T any](p Port[T]) RunPort[T] {
	if r, ok := p.(RunPort[T]); ok {
		return r
	}
	return eachPort[T]{p}
}

type eachPort[T any] struct{ Port[T] }

func (p eachPort[T]) PushRun(ctx context.Context, vs []T, ts []Tag) error {
	for i, v := range vs {
		if err := p.Push(ctx, v, TagAt(ts, i)); err != nil {
			return err
		}
	}
	return nil
}

// TagAt is the tag of the i-th item of a run tagged ts.
func TagAt(ts []Tag, i int) Tag {
	if ts == nil {
		return One()
	}
	return ts[i]
}
