package source

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Slice emits the items of items in order. The slice is read, not copied,
// while the pipeline runs: do not change it meanwhile. A nil or empty slice
// makes an empty stream.
func Slice[T any](items []T) *Of[T] {
	return &Of[T]{name: "slice", items: items, slice: true}
}

// sliceRun is how many items of a slice move downstream in one call: the
// slice is in memory, so there is nothing to wait for between them.
const sliceRun = 64

// runSlice emits the items of a Slice source a run at a time, so that the
// fused stages after it work on runs too. It stops as a generator would: at
// once when ctx is done, and before the next run when the run drains.
func (s *Of[T]) runSlice(ctx context.Context, sc *flow.Scope, down flow.Port[T]) error {
	in := sc.Run.TallyIn()
	runs := flow.Runs(down)
	for xs := s.items; len(xs) > 0 && !sc.Run.Draining(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(sliceRun, len(xs))
		in.Add(int64(k))
		if err := runs.PushRun(ctx, xs[:k:k], nil); err != nil {
			return err
		}
		xs = xs[k:]
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return down.Close(ctx)
}
