package flow

import (
	"sync/atomic"
	"time"
)

// Outcome is how a source item's journey ended. Order matters: a FlatMap
// parent takes the worst outcome of its children.
type Outcome int32

const (
	Dropped      Outcome = iota // left out by a Filter, or a FlatMap gave no children
	Done                        // accepted by the sink
	Skipped                     // dropped by the Skip policy
	DeadLettered                // handed to a dead-letter function
	Requeued                    // handed back to its source to be delivered again (Receipt)
	Failed                      // a failure that stopped the run
)

// Tag travels with every item and says which source items it stands for,
// so that the run can account for each source item exactly once, whatever
// Batch, FlatMap and Filter did to it. It is the seed of delivery receipts:
// settling a Tag is the moment a source item may be acknowledged.
//
// A plain item stands for one source item; a batch for the sum of its
// members; a FlatMap child for a share of its parent, tracked by a group.
// Tags are small values and cost no allocation unless a FlatMap splits an
// item in several children.
type Tag struct {
	n  int64    // source items this item stands for directly
	gs []*group // FlatMap parents this item is a child of; read-only, shared
}

// One is the tag of an item fresh from the source.
func One() Tag { return Tag{n: 1} }

// Merge returns the tag of an item made of t's and u's items (a batch).
func (t Tag) Merge(u Tag) Tag {
	t.n += u.n
	if len(u.gs) > 0 {
		// Never append into a slice other tags share.
		t.gs = append(t.gs[:len(t.gs):len(t.gs)], u.gs...)
	}
	return t
}

// Plus returns the tag of an item made of t's items and n fresh source
// items (tagged One each).
func (t Tag) Plus(n int64) Tag {
	t.n += n
	return t
}

// Split returns the tag of each of the n children of an item tagged t. The
// children share one group, which settles t when the last of them settles
// (or at once when one fails).
func (t Tag) Split(n int) Tag {
	if n == 1 {
		return t
	}
	g := &group{parent: t}
	g.pending.Store(int64(n))
	return Tag{gs: []*group{g}}
}

// group is a FlatMap parent waiting for its children, or a source item
// waiting to tell its receipt how it left the pipeline (a group of one).
type group struct {
	parent  Tag
	receipt Receipt // nil for a FlatMap parent
	pending atomic.Int64
	worst   atomic.Int32 // the worst Outcome seen so far
	after   atomic.Int64 // the longest delay asked by a Requeued child
	settled atomic.Bool  // the parent has been settled
	// failure is the worst failure of a child with its error, which names
	// the stage the parent is counted as failed in.
	failure atomic.Pointer[childFailure]
}

type childFailure struct {
	o Outcome
	e *Error
}

// failed records a child's failure o with its error e, if it is the worst
// so far.
func (g *group) failed(o Outcome, e *Error) {
	for {
		f := g.failure.Load()
		if f != nil && f.o >= o || g.failure.CompareAndSwap(f, &childFailure{o, e}) {
			return
		}
	}
}

// failedIn returns the error of the worst failure of a child, or nil.
func (g *group) failedIn() *Error {
	if f := g.failure.Load(); f != nil {
		return f.e
	}
	return nil
}

// Settle records outcome o for every source item that t stands for.
func (r *Run) Settle(t Tag, o Outcome) { r.settle(t, o, 0, nil) }

// settle is Settle with, for Requeued, the delay before the item's source
// delivers it again, and for a failure, its error, which names the stage.
// It returns the BudgetError once the run's failure budget is exceeded.
func (r *Run) settle(t Tag, o Outcome, after time.Duration, e *Error) *BudgetError {
	var over *BudgetError
	if t.n > 0 {
		r.Counts.of(o).Add(t.n)
		switch o {
		case Done:
			r.losses.doneResets()
		case Skipped, DeadLettered, Failed:
			over = r.lose(t.n, o, e)
		}
	}
	for _, g := range t.gs {
		if b := g.child(r, o, after, e); b != nil {
			over = b
		}
	}
	return over
}

func (g *group) child(r *Run, o Outcome, after time.Duration, e *Error) *BudgetError {
	if e != nil {
		g.failed(o, e)
	}
	for {
		w := g.worst.Load()
		if int32(o) <= w || g.worst.CompareAndSwap(w, int32(o)) {
			break
		}
	}
	for {
		a := g.after.Load()
		if int64(after) <= a || g.after.CompareAndSwap(a, int64(after)) {
			break
		}
	}
	// A failure stops the run: its siblings will be abandoned, so the parent
	// is failed now rather than never.
	last := g.pending.Add(-1) == 0
	if (o == Failed || last) && g.settled.CompareAndSwap(false, true) {
		worst, after := Outcome(g.worst.Load()), time.Duration(g.after.Load())
		over := r.settle(g.parent, worst, after, g.failedIn())
		if g.receipt != nil {
			g.receipt.Settle(worst, after)
		}
		return over
	}
	return nil
}
