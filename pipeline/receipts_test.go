package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receipt is a fake source.Receipt that records every Settle call. Its
// check, when set, is called at each Settle with the item's id and outcome
// and says what is wrong with settling the item now (a Done item whose
// outputs have not all been through the sink, say); the complaint is kept
// for the test to report from its own goroutine.
type receipt struct {
	id    int
	n     int  // what Delivery reports
	last  bool // what Delivery reports
	check func(id int, o source.Outcome) error

	mu       sync.Mutex
	calls    int
	outcome  source.Outcome
	after    time.Duration
	problems []string
}

func (r *receipt) Delivery() (int, bool) { return r.n, r.last }

func (r *receipt) Settle(o source.Outcome, after time.Duration) {
	var problem error
	if r.check != nil {
		problem = r.check(r.id, o)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.outcome, r.after = o, after
	if problem != nil {
		r.problems = append(r.problems, problem.Error())
	}
}

// settled returns what r has recorded.
func (r *receipt) settled() (calls int, o source.Outcome, after time.Duration, problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, r.outcome, r.after, append([]string(nil), r.problems...)
}

// newReceipts returns n receipts for the items 0..n-1, each reporting
// delivery number delivery and last, and checked with check.
func newReceipts(n, delivery int, last bool, check func(int, source.Outcome) error) []*receipt {
	rs := make([]*receipt, n)
	for i := range rs {
		rs[i] = &receipt{id: i, n: delivery, last: last, check: check}
	}
	return rs
}

// yields records what a source's generator did.
type yields struct {
	yielded atomic.Int64 // items handed to yield, the refused one included
	refused atomic.Bool  // a yield said false
}

// fromReceipts is a WithReceipts source yielding i with rs[i] for each i in
// order; a nil rs[i] is yielded as a nil Receipt. y, when not nil, records
// the yields.
func fromReceipts(rs []*receipt, y *yields) *source.Of[int] {
	return source.WithReceipts(func(_ context.Context, yield func(int, source.Receipt) bool) error {
		for i, r := range rs {
			var rr source.Receipt // a nil *receipt would make a non-nil Receipt
			if r != nil {
				rr = r
			}
			if y != nil {
				y.yielded.Add(1)
			}
			if !yield(i, rr) {
				if y != nil {
					y.refused.Store(true)
				}
				return nil
			}
		}
		return nil
	})
}

// settledOnce checks that every non-nil receipt of rs was settled exactly
// once, with want(id), and that its check found nothing wrong.
func settledOnce(t *testing.T, rs []*receipt, want func(id int) source.Outcome) {
	t.Helper()
	for _, r := range rs {
		if r == nil {
			continue
		}
		calls, o, _, problems := r.settled()
		if assert.Equal(t, 1, calls, "item %d: Settle calls", r.id) {
			assert.Equal(t, want(r.id), o, "item %d: outcome", r.id)
		}
		assert.Empty(t, problems, "item %d", r.id)
	}
}

// countsMatch checks that the run's counts agree with the receipts: as many
// settled with each outcome as the counts say, and as many never settled
// as were abandoned, plus extra (yielded but not emitted). It assumes every
// item has a receipt.
func countsMatch(t *testing.T, rs []*receipt, c pipeline.Counts, extra int64) {
	t.Helper()
	var by [source.Failed + 1]int64
	var unsettled int64
	for _, r := range rs {
		calls, o, _, _ := r.settled()
		if calls == 0 {
			unsettled++
			continue
		}
		by[o]++
	}
	assert.Equal(t, c.Done, by[source.Done], "Done: %+v", c)
	assert.Equal(t, c.Dropped, by[source.Dropped], "Dropped: %+v", c)
	assert.Equal(t, c.Skipped, by[source.Skipped], "Skipped: %+v", c)
	assert.Equal(t, c.DeadLettered, by[source.DeadLettered], "DeadLettered: %+v", c)
	assert.Equal(t, c.Requeued, by[source.Requeued], "Requeued: %+v", c)
	assert.Equal(t, c.Failed, by[source.Failed], "Failed: %+v", c)
	assert.Equal(t, c.Abandoned+extra, unsettled, "receipts never settled: %+v", c)
}

// ledger records, by source item id, what the sink, the handlers and the
// dead-letter function did, for receipts' checks and the test's asserts.
type ledger struct {
	mu    sync.Mutex
	sunk  map[int]int // outputs of the item the sink has finished with
	dead  map[int]int // dead-letter calls for the item
	calls map[int]int // handler calls for the item
}

func newLedger() *ledger {
	return &ledger{sunk: map[int]int{}, dead: map[int]int{}, calls: map[int]int{}}
}

func (l *ledger) add(m map[int]int, ids ...int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		m[id]++
	}
}

func (l *ledger) get(m map[int]int, id int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m[id]
}

// sink returns a sink of item ids that records each one as it returns: a
// receipt settled after its item's sink call returned finds it recorded.
func (l *ledger) sink() *sink.Of[int] {
	return sink.Func(func(_ context.Context, id int) error {
		l.add(l.sunk, id)
		return nil
	})
}

// batchSink is sink for batches: it records every member of a batch at
// once, as the call returns.
func (l *ledger) batchSink() *sink.Of[[]int] {
	return sink.Func(func(_ context.Context, ids []int) error {
		l.add(l.sunk, ids...)
		return nil
	})
}

// afterSink returns a receipt check: an item settled Done has had all its
// outputs, outputs(id) of them, through the sink; an item dead-lettered
// has been handed to the dead-letter function once and to the sink never;
// any other outcome finds none of its outputs at the sink.
func (l *ledger) afterSink(outputs func(id int) int) func(int, source.Outcome) error {
	return func(id int, o source.Outcome) error {
		sunk := l.get(l.sunk, id)
		switch o {
		case source.Done:
			if want := outputs(id); sunk != want {
				return fmt.Errorf("settled Done when the sink had finished with %d of its %d outputs", sunk, want)
			}
		case source.DeadLettered:
			if d := l.get(l.dead, id); d != 1 || sunk != 0 {
				return fmt.Errorf("settled DeadLettered after %d dead-letter calls, with %d outputs at the sink", d, sunk)
			}
		default:
			if sunk != 0 {
				return fmt.Errorf("settled %v with %d outputs at the sink", o, sunk)
			}
		}
		return nil
	}
}

func one(int) int { return 1 }

func TestReceiptsOfMappedItemsSettleDone(t *testing.T) {
	const n = 200
	for _, c := range []struct {
		name  string
		build func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline
	}{
		{"source into sink", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline { return p.Sink(l.sink()) }},
		{"map into sink", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.Map(stage.Func(func(_ context.Context, id int) (int, error) { return id, nil })).Sink(l.sink())
		}},
		{"two maps into sink", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			id := stage.Func(func(_ context.Context, id int) (int, error) { return id, nil })
			return p.Map(id).Map(id).Sink(l.sink())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLedger()
			rs := newReceipts(n, 1, false, l.afterSink(one))
			st := runWithin(t, context.Background(), 30*time.Second, c.build(pipeline.New(fromReceipts(rs, nil)), l))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, pipeline.Counts{In: n, Done: n}, st.Counts)
			settledOnce(t, rs, func(int) source.Outcome { return source.Done })
			countsMatch(t, rs, st.Counts, 0)
		})
	}
}

func TestReceiptsOfFilteredItems(t *testing.T) {
	const n = 150
	keep := func(id int) bool { return id%3 != 0 }
	want := func(id int) source.Outcome {
		if keep(id) {
			return source.Done
		}
		return source.Dropped
	}
	for _, c := range []struct {
		name  string
		build func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline
	}{
		{"filter into sink", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.Filter(keep).Sink(l.sink())
		}},
		{"filter with an error-returning function", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.Filter(func(_ context.Context, id int) (bool, error) { return keep(id), nil }).Sink(l.sink())
		}},
		// After a ParMap the Filter takes runs of items with their tags.
		{"parmap, then filter into sink", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.ParMap(4, stage.Func(func(_ context.Context, id int) (int, error) { return id, nil })).
				Filter(keep).Sink(l.sink())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLedger()
			rs := newReceipts(n, 1, false, l.afterSink(one))
			st := runWithin(t, context.Background(), 30*time.Second, c.build(pipeline.New(fromReceipts(rs, nil)), l))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, pipeline.Counts{In: n, Done: n - n/3, Dropped: n / 3}, st.Counts)
			settledOnce(t, rs, want)
			countsMatch(t, rs, st.Counts, 0)
			for id := range n {
				if !keep(id) {
					assert.Zero(t, l.get(l.sunk, id), "dropped item %d reached the sink", id)
				}
			}
		})
	}
}

func TestReceiptsOfBatchedItems(t *testing.T) {
	const n = 10
	for _, size := range []int{1, 3, 4, 10, 25} {
		for _, timed := range []bool{false, true} {
			t.Run(fmt.Sprintf("batch %d, timed %v", size, timed), func(t *testing.T) {
				var opts []stage.Option
				if timed {
					// Batch in its own goroutine; the wait is long enough
					// never to flush a batch by itself.
					opts = append(opts, stage.MaxWait(time.Hour))
				}
				l := newLedger()
				var batches []int // the sizes of the batches the sink got
				rs := newReceipts(n, 1, false, l.afterSink(one))
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(fromReceipts(rs, nil)).Batch(size, opts...).
						Sink(sink.Func(func(_ context.Context, ids []int) error {
							batches = append(batches, len(ids))
							l.add(l.sunk, ids...)
							return nil
						})))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: n, Done: n}, st.Counts)
				var want []int
				for left := n; left > 0; left -= size {
					want = append(want, min(size, left))
				}
				assert.Equal(t, want, batches, "the last batch may be partial")
				settledOnce(t, rs, func(int) source.Outcome { return source.Done })
				countsMatch(t, rs, st.Counts, 0)
			})
		}
	}
}

func TestReceiptsOfFlatMappedItems(t *testing.T) {
	const n = 30
	kids := func(id int) int { return []int{0, 1, 3}[id%3] }
	// Each child is its parent's id times 10 plus its place.
	flat := stage.Flat(func(_ context.Context, id int) ([]int, error) {
		var out []int
		for k := range kids(id) {
			out = append(out, id*10+k)
		}
		return out, nil
	})
	parentOf := stage.Func(func(_ context.Context, child int) (int, error) { return child / 10, nil })
	want := func(id int) source.Outcome {
		if kids(id) == 0 {
			return source.Dropped
		}
		return source.Done
	}
	for _, c := range []struct {
		name  string
		build func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline
	}{
		{"flatmap into sink", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.FlatMap(flat).Map(parentOf).Sink(l.sink())
		}},
		// The children cross goroutines and may reach the sink out of order.
		{"flatmap, then an unordered parmap", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.FlatMap(flat).ParMap(3, parentOf).Sink(l.sink())
		}},
		// A parent's children may land in different batches.
		{"flatmap, then batch 2", func(p *pipeline.Pipeline, l *ledger) *pipeline.Pipeline {
			return p.FlatMap(flat).Map(parentOf).Batch(2).Sink(l.batchSink())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLedger()
			rs := newReceipts(n, 1, false, l.afterSink(kids))
			st := runWithin(t, context.Background(), 30*time.Second, c.build(pipeline.New(fromReceipts(rs, nil)), l))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, pipeline.Counts{In: n, Done: 2 * n / 3, Dropped: n / 3}, st.Counts)
			settledOnce(t, rs, want)
			countsMatch(t, rs, st.Counts, 0)
			for id := range n {
				assert.Equal(t, kids(id), l.get(l.sunk, id), "children of item %d at the sink", id)
			}
		})
	}
}

func TestReceiptsUnderParMapPolicies(t *testing.T) {
	const n = 60
	bad := func(id int) bool { return id%4 == 1 }
	const nBad = n / 4
	errBad := errors.New("bad item")
	for _, c := range []struct {
		name     string
		delivery int
		last     bool
		policy   func(dl stage.Policy) stage.Policy // dl is the dead-letter policy
		fails    source.Outcome                     // how a bad item's receipt settles
	}{
		{"skip", 1, false, func(stage.Policy) stage.Policy { return stage.Skip() }, source.Skipped},
		{"dead letter", 1, false, func(dl stage.Policy) stage.Policy { return dl }, source.DeadLettered},
		{"retry, first delivery", 1, false, func(dl stage.Policy) stage.Policy {
			return stage.Retry(3, time.Millisecond, 2*time.Millisecond).Then(dl)
		}, source.Requeued},
		{"retry, second delivery", 2, false, func(dl stage.Policy) stage.Policy {
			return stage.Retry(3, time.Millisecond, 2*time.Millisecond).Then(dl)
		}, source.Requeued},
		{"retry, third delivery", 3, false, func(dl stage.Policy) stage.Policy {
			return stage.Retry(3, time.Millisecond, 2*time.Millisecond).Then(dl)
		}, source.DeadLettered},
		{"retry, last delivery", 1, true, func(dl stage.Policy) stage.Policy {
			return stage.Retry(3, time.Millisecond, 2*time.Millisecond).Then(dl)
		}, source.DeadLettered},
	} {
		for _, workers := range []int{1, 2, 4} {
			for _, ordered := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s, %d workers, ordered %v", c.name, workers, ordered), func(t *testing.T) {
					l := newLedger()
					dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
						l.add(l.dead, d.Item.(int))
						return nil
					})
					h := stage.Func(func(_ context.Context, id int) (int, error) {
						l.add(l.calls, id)
						if bad(id) {
							return 0, errBad
						}
						return id, nil
					})
					opts := []stage.Option{stage.OnError(c.policy(dl))}
					if ordered {
						opts = append(opts, stage.Ordered())
					}
					rs := newReceipts(n, c.delivery, c.last, l.afterSink(one))
					st := runWithin(t, context.Background(), 30*time.Second,
						pipeline.New(fromReceipts(rs, nil)).ParMap(workers, h, opts...).Sink(l.sink()))

					require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					settledOnce(t, rs, func(id int) source.Outcome {
						if bad(id) {
							return c.fails
						}
						return source.Done
					})
					countsMatch(t, rs, st.Counts, 0)
					balanced(t, st.Counts)

					want := pipeline.Counts{In: n, Done: n - nBad}
					switch c.fails {
					case source.Skipped:
						want.Skipped = nBad
					case source.DeadLettered:
						want.DeadLettered = nBad
					case source.Requeued:
						want.Requeued = nBad
					}
					assert.Equal(t, want, st.Counts, "no in-process retry: Retried stays 0")

					for id := range n {
						// A requeued item is not called again here: its
						// source delivers it again.
						assert.Equal(t, 1, l.get(l.calls, id), "handler calls for item %d", id)
						wantDead := 0
						if bad(id) && c.fails == source.DeadLettered {
							wantDead = 1
						}
						assert.Equal(t, wantDead, l.get(l.dead, id), "dead letters of item %d", id)
						_, _, after, _ := rs[id].settled()
						if bad(id) && c.fails == source.Requeued {
							assert.Positive(t, after, "item %d: the delay before redelivery", id)
							assert.LessOrEqual(t, after, 2*time.Millisecond, "item %d: the delay is within the policy's max", id)
						} else {
							assert.Zero(t, after, "item %d: only a requeued item has a delay", id)
						}
					}
				})
			}
		}
	}
}

func TestReceiptsWhenARunFailsFast(t *testing.T) {
	t.Run("a failing sink fails its batch's receipts, and the source stops there", func(t *testing.T) {
		const n = 12
		l := newLedger()
		// Settled Failed, a member's batch has been through the failing
		// sink call; settled Done, through a successful one.
		check := func(id int, o source.Outcome) error {
			if sunk := l.get(l.sunk, id); sunk != 1 {
				return fmt.Errorf("settled %v when the sink had had its batch %d times", o, sunk)
			}
			return nil
		}
		rs := newReceipts(n, 1, false, check)
		var y yields
		st := runWithin(t, context.Background(), 30*time.Second,
			pipeline.New(fromReceipts(rs, &y)).Batch(3).
				Sink(sink.Func(func(_ context.Context, ids []int) error {
					l.add(l.sunk, ids...)
					if ids[0] == 3 {
						return errBoom
					}
					return nil
				})))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		// The sink runs in the source's goroutine: the yield of item 5,
		// which filled the failing batch, said false.
		assert.True(t, y.refused.Load())
		assert.Equal(t, int64(6), y.yielded.Load())
		assert.Equal(t, pipeline.Counts{In: 6, Done: 3, Failed: 3}, st.Counts)
		settledOnce(t, rs[:6], func(id int) source.Outcome {
			if id < 3 {
				return source.Done
			}
			return source.Failed
		})
		for _, r := range rs[6:] {
			calls, _, _, _ := r.settled()
			assert.Zero(t, calls, "item %d was never emitted", r.id)
		}
		countsMatch(t, rs[:6], st.Counts, 0)
	})

	t.Run("a failing item in a fused map fails its receipt alone", func(t *testing.T) {
		const n, badID = 20, 7
		l := newLedger()
		rs := newReceipts(n, 1, false, l.afterSink(one))
		var y yields
		st := runWithin(t, context.Background(), 30*time.Second,
			pipeline.New(fromReceipts(rs, &y)).
				Map(stage.Func(func(_ context.Context, id int) (int, error) {
					if id == badID {
						return 0, errBoom
					}
					return id, nil
				})).Sink(l.sink()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.True(t, y.refused.Load())
		assert.Equal(t, int64(badID+1), y.yielded.Load())
		assert.Equal(t, pipeline.Counts{In: badID + 1, Done: badID, Failed: 1}, st.Counts)
		settledOnce(t, rs[:badID+1], func(id int) source.Outcome {
			if id == badID {
				return source.Failed
			}
			return source.Done
		})
		for _, r := range rs[badID+1:] {
			calls, _, _, _ := r.settled()
			assert.Zero(t, calls, "item %d was never emitted", r.id)
		}
	})

	// Item 0 blocks its worker until the run stops, so that it is in flight,
	// and abandoned, when item badID fails. The other workers take the
	// items queued behind it.
	for _, workers := range []int{2, 4} {
		for _, ordered := range []bool{false, true} {
			t.Run(fmt.Sprintf("parmap, %d workers, ordered %v: abandoned items are never settled", workers, ordered), func(t *testing.T) {
				const n, badID = 100, 7
				l := newLedger()
				check := func(id int, o source.Outcome) error {
					sunk := l.get(l.sunk, id)
					switch {
					case o == source.Done && sunk != 1, o == source.Failed && sunk != 0:
						return fmt.Errorf("settled %v with %d outputs at the sink", o, sunk)
					case o != source.Done && o != source.Failed:
						return fmt.Errorf("settled %v in a fail-fast run", o)
					}
					return nil
				}
				rs := newReceipts(n, 1, false, check)
				h := stage.Func(func(ctx context.Context, id int) (int, error) {
					switch id {
					case 0:
						<-ctx.Done()
						return 0, ctx.Err()
					case badID:
						return 0, errBoom
					}
					return id, nil
				})
				opts := []stage.Option{stage.Name("work")}
				if ordered {
					opts = append(opts, stage.Ordered())
				}
				var y yields
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(fromReceipts(rs, &y)).ParMap(workers, h, opts...).Sink(l.sink()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "work", st.Stage)
				balanced(t, st.Counts)
				assert.Equal(t, int64(1), st.Counts.Failed)
				assert.GreaterOrEqual(t, st.Counts.Abandoned, int64(1), "item 0 at least: %+v", st.Counts)

				calls, o, _, problems := rs[badID].settled()
				assert.Equal(t, 1, calls)
				assert.Equal(t, source.Failed, o)
				assert.Empty(t, problems)
				calls, _, _, _ = rs[0].settled()
				assert.Zero(t, calls, "item 0 was abandoned")

				settledCount := int64(0)
				for _, r := range rs {
					calls, _, _, problems := r.settled()
					assert.LessOrEqual(t, calls, 1, "item %d: Settle calls", r.id)
					assert.Empty(t, problems, "item %d", r.id)
					if calls > 0 {
						settledCount++
					}
				}
				// The receipts yielded and never settled are the abandoned
				// items, and the one whose yield said false if it was not
				// emitted; those never yielded were never settled either.
				yielded := y.yielded.Load()
				extra := yielded - settledCount - st.Counts.Abandoned
				if y.refused.Load() {
					assert.Contains(t, []int64{0, 1}, extra, "%+v", st.Counts)
				} else {
					assert.Zero(t, extra, "%+v", st.Counts)
				}
				assert.Equal(t, yielded-extra, st.Counts.In)
				for _, r := range rs[yielded:] {
					calls, _, _, _ := r.settled()
					assert.Zero(t, calls, "item %d was never yielded", r.id)
				}
				countsMatch(t, rs[:yielded], st.Counts, extra)
			})
		}
	}
}

func TestReceiptsMayBeNil(t *testing.T) {
	const n = 30
	// Odd items come without a receipt.
	withNils := func(check func(int, source.Outcome) error) []*receipt {
		rs := newReceipts(n, 1, false, check)
		for i := 1; i < n; i += 2 {
			rs[i] = nil
		}
		return rs
	}

	t.Run("an item without a receipt counts as any other", func(t *testing.T) {
		keep := func(id int) bool { return id%5 != 0 }
		l := newLedger()
		rs := withNils(l.afterSink(one))
		st := runWithin(t, context.Background(), 30*time.Second,
			pipeline.New(fromReceipts(rs, nil)).
				Map(stage.Func(func(_ context.Context, id int) (int, error) { return id, nil })).
				Filter(keep).Batch(4).Sink(l.batchSink()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, pipeline.Counts{In: n, Done: n - n/5, Dropped: n / 5}, st.Counts)
		settledOnce(t, rs, func(id int) source.Outcome {
			if keep(id) {
				return source.Done
			}
			return source.Dropped
		})
	})

	t.Run("under retry, an item without a receipt is retried here, one with a receipt requeued", func(t *testing.T) {
		l := newLedger()
		rs := withNils(l.afterSink(one))
		h := stage.Func(func(_ context.Context, id int) (int, error) {
			l.add(l.calls, id)
			if l.get(l.calls, id) == 1 {
				return 0, errBoom // the first call of every item fails
			}
			return id, nil
		})
		st := runWithin(t, context.Background(), 30*time.Second,
			pipeline.New(fromReceipts(rs, nil), pipeline.OnError(stage.Retry(3, time.Millisecond, 2*time.Millisecond))).
				ParMap(2, h).Sink(l.sink()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, pipeline.Counts{In: n, Done: n / 2, Requeued: n / 2, Retried: n / 2}, st.Counts)
		settledOnce(t, rs, func(int) source.Outcome { return source.Requeued })
		for id := range n {
			if id%2 == 0 {
				assert.Equal(t, 1, l.get(l.calls, id), "item %d has a receipt: requeued after one call", id)
				assert.Zero(t, l.get(l.sunk, id), "item %d", id)
			} else {
				assert.Equal(t, 2, l.get(l.calls, id), "item %d has no receipt: called again", id)
				assert.Equal(t, 1, l.get(l.sunk, id), "item %d", id)
			}
		}
	})
}

func TestABatchMixingItemsWithAndWithoutReceiptsIsRetriedInPlace(t *testing.T) {
	rs := newReceipts(2, 1, false, nil)
	rs[1] = nil
	calls := 0
	st := runWithin(t, context.Background(), 30*time.Second,
		pipeline.New(fromReceipts(rs, nil), pipeline.OnError(stage.Retry(3, time.Millisecond, 2*time.Millisecond))).
			Batch(2).
			Map(stage.Func(func(_ context.Context, b []int) ([]int, error) {
				calls++
				if calls == 1 {
					return nil, errBoom
				}
				return b, nil
			})).
			Sink(sink.Discard[[]int]()))
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, 2, calls, "item 1 has no source to deliver it again: requeuing would lose it")
	assert.Equal(t, pipeline.Counts{In: 2, Done: 2, Retried: 1}, st.Counts)
	settledOnce(t, rs[:1], func(int) source.Outcome { return source.Done })
}

// commitWriter is a sink.Writer recording its calls in order.
type commitWriter struct {
	log       *[]string
	commitErr error
}

func (w commitWriter) Write(_ context.Context, v int) error {
	*w.log = append(*w.log, "write")
	return nil
}

func (w commitWriter) Commit(context.Context) error {
	*w.log = append(*w.log, "commit")
	return w.commitErr
}

func (w commitWriter) Abort() error {
	*w.log = append(*w.log, "abort")
	return nil
}

func TestAWriterSinkSettlesReceiptsOnlyOnceItCommits(t *testing.T) {
	for _, commitErr := range []error{nil, errBoom} {
		var log []string
		rs := newReceipts(3, 1, false, func(id int, o source.Outcome) error {
			if o == source.Done && (len(log) == 0 || log[len(log)-1] != "commit") {
				return fmt.Errorf("item %d settled Done after %v, not after the commit", id, log)
			}
			return nil
		})
		st := runWithin(t, context.Background(), 30*time.Second,
			pipeline.New(fromReceipts(rs, nil)).Sink(sink.New("file", func(context.Context) (sink.Writer[int], error) {
				return commitWriter{log: &log, commitErr: commitErr}, nil
			})))
		if commitErr == nil {
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, pipeline.Counts{In: 3, Done: 3}, st.Counts)
			settledOnce(t, rs, func(int) source.Outcome { return source.Done })
			continue
		}
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, []string{"write", "write", "write", "commit", "abort"}, log)
		assert.Equal(t, pipeline.Counts{In: 3, Abandoned: 3}, st.Counts, "written but never stored")
		for _, r := range rs {
			calls, _, _, _ := r.settled()
			assert.Zero(t, calls, "item %d: its source must deliver it again", r.id)
		}
	}
}

func TestReceiptsThroughKeyByUnbatchAndReduce(t *testing.T) {
	const n = 40
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("KeyBy with %d workers, then Batch and Unbatch", workers), func(t *testing.T) {
			l := newLedger()
			rs := newReceipts(n, 1, false, l.afterSink(one))
			id := stage.Func(func(_ context.Context, v int) (int, error) { return v, nil })
			st := runWithin(t, context.Background(), 30*time.Second,
				pipeline.New(fromReceipts(rs, nil)).
					Via(stage.KeyBy(workers, func(v int) int { return v % 3 }, id)).
					Batch(6).Via(stage.Unbatch[int]()).
					Sink(l.sink()))
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, pipeline.Counts{In: n, Done: n}, st.Counts)
			settledOnce(t, rs, func(int) source.Outcome { return source.Done })
		})
	}
	t.Run("Reduce settles every receipt once its one result is written", func(t *testing.T) {
		var sum int
		var sunk atomic.Bool
		rs := newReceipts(n, 1, false, func(id int, o source.Outcome) error {
			if !sunk.Load() {
				return fmt.Errorf("item %d settled %v before the sum reached the sink", id, o)
			}
			return nil
		})
		st := runWithin(t, context.Background(), 30*time.Second,
			pipeline.New(fromReceipts(rs, nil)).
				Via(stage.Reduce(0, func(_ context.Context, acc, v int) (int, error) { return acc + v, nil })).
				Sink(sink.Func(func(_ context.Context, v int) error { sum = v; sunk.Store(true); return nil })))
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, n*(n-1)/2, sum)
		settledOnce(t, rs, func(int) source.Outcome { return source.Done })
	})
}
