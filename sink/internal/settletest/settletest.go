// Package settletest makes sources whose items carry fake receipts, for
// the tests of package sink and of the sinks built on it: a test sees when
// each item's receipt settles while the run is still going.
package settletest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/conveyor-go/conveyor/source"
)

// Receipt is a fake source.Receipt: it records its first outcome and
// closes Settled then, and counts its Settle calls.
type Receipt struct {
	settled chan struct{}
	calls   atomic.Int32
	outcome atomic.Int32
}

// Receipts returns n fresh receipts.
func Receipts(n int) []*Receipt {
	rs := make([]*Receipt, n)
	for i := range rs {
		rs[i] = &Receipt{settled: make(chan struct{})}
	}
	return rs
}

// Delivery says that this is the first delivery, and not the last.
func (r *Receipt) Delivery() (int, bool) { return 1, false }

// Settle records o, the first time.
func (r *Receipt) Settle(o source.Outcome, _ time.Duration) {
	if r.calls.Add(1) == 1 {
		r.outcome.Store(int32(o))
		close(r.settled)
	}
}

// Settled is closed once the receipt has settled.
func (r *Receipt) Settled() <-chan struct{} { return r.settled }

// Calls returns how many times Settle was called, and the first outcome.
func (r *Receipt) Calls() (int, source.Outcome) {
	return int(r.calls.Load()), source.Outcome(r.outcome.Load())
}

// Source returns a source of item(0), ..., item(len(rs)-1), item i carrying
// rs[i]. Once the pipeline has taken item i, the source calls after(ctx,
// i), when after is not nil; an error from it fails the run.
func Source[T any](rs []*Receipt, item func(i int) T, after func(ctx context.Context, i int) error) *source.Of[T] {
	return source.WithReceipts(func(ctx context.Context, yield func(T, source.Receipt) bool) error {
		for i, r := range rs {
			if !yield(item(i), r) {
				return nil
			}
			if after == nil {
				continue
			}
			if err := after(ctx, i); err != nil {
				return err
			}
		}
		return nil
	})
}

// SettleEvery returns an after function for Source: after every every-th
// item it waits until the receipts of all the items so far have settled,
// and fails if one has not within wait, naming it. A sink that holds
// receipts until the run ends fails a run with this source.
func SettleEvery(rs []*Receipt, every int, wait time.Duration) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		if (i+1)%every != 0 {
			return nil
		}
		timeout := time.NewTimer(wait)
		defer timeout.Stop()
		for j := range i + 1 {
			select {
			case <-rs[j].Settled():
			case <-timeout.C:
				return fmt.Errorf("item %d: not settled %v after item %d was taken", j, wait, i)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
}
