package flow

import "sync/atomic"

// tallyEvery is how many source items a Tally counts before it adds them to
// the run's counter: often enough for anyone watching a run, and rarely
// enough that counting costs no atomic operation per item.
const tallyEvery = 64

// Tally counts, in one goroutine, the source items that reach one outcome
// (or, for the source, that are emitted), and adds them to the run's
// counter in batches instead of with an atomic operation per item. What it
// still holds is added when the run's goroutines have all stopped, before
// Execute returns, so the run's final counts are exact.
//
// The tallies of done items and of the source's items also serve the
// failure budget (see Budget). A tally of done items adds its first item
// at once, so that no item done is ever missing from a count of 0, and the
// first after a failure, which ends the failures in a row; while failures
// in a row go on, both add every item at once, so that a failure finds
// their counts current. That costs an atomic load per call, of a counter
// written only when an item fails.
type Tally struct {
	run    *Run
	o      Outcome
	dst    *atomic.Int64
	n      int64
	every  int64         // full, or 1 until a tally of done items adds its first item
	full   int64         // tallyEvery, or 1 when the run is watched live
	inARow *atomic.Int64 // the run's failures in a row, or a counter that stays 0
	resets bool          // an item counted ends the failures in a row: a tally of done items
	// holding makes Settle keep the tags of items with receipts, and of
	// FlatMap children, in held rather than settle them, until SettleHeld.
	holding bool
	held    []Tag
}

// Tally returns a tally of the source items that reach outcome o.
func (r *Run) Tally(o Outcome) *Tally {
	t := &Tally{run: r, o: o, dst: r.Counts.of(o), every: r.tallyEvery(), full: r.tallyEvery(), inARow: r.inARowOf(o), resets: o == Done}
	if o == Done {
		t.every = 1
	}
	r.tallies = append(r.tallies, t)
	return t
}

// TallyIn returns a tally of the items the source emits.
func (r *Run) TallyIn() *Tally {
	t := &Tally{run: r, dst: &r.Counts.In, every: r.tallyEvery(), full: r.tallyEvery(), inARow: r.inARowOf(-1)}
	r.tallies = append(r.tallies, t)
	return t
}

// Add counts n source items.
func (t *Tally) Add(n int64) {
	t.n += n
	if t.n >= t.every || n > 0 && t.inARow.Load() != 0 {
		t.flush()
	}
}

// tallyEvery is how many items the run's tallies hold before they add
// them to its counters.
func (r *Run) tallyEvery() int64 {
	if r.Live {
		return 1
	}
	return tallyEvery
}

// Settle records the tally's outcome for the source items tag stands for.
// Only a FlatMap child, whose parent waits for its siblings, takes the
// run's slower path.
func (t *Tally) Settle(tag Tag) {
	if len(tag.gs) > 0 {
		if t.holding {
			t.held = append(t.held, tag)
			return
		}
		t.run.Settle(tag, t.o)
		return
	}
	t.Add(tag.n)
}

// HoldTracked makes Settle hold the tags of items with receipts, and of
// FlatMap children, until SettleHeld: a sink whose writes are stored only
// when it commits settles them then.
func (t *Tally) HoldTracked() { t.holding = true }

// SettleHeld settles the tags Settle has held.
func (t *Tally) SettleHeld() {
	for _, tag := range t.held {
		t.run.Settle(tag, t.o)
	}
	t.held = nil
}

func (t *Tally) flush() {
	if t.n == 0 {
		return
	}
	t.dst.Add(t.n)
	t.n = 0
	t.every = t.full
	// After the count, so that a failure that reads it without these items
	// comes before them: at worst it is left out of the failures in a row.
	if t.resets && t.inARow.Load() != 0 {
		t.inARow.Store(0)
	}
}
