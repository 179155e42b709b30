package stage

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// KeyBy is a partitioned ParMap: it runs the handler of p on workers
// goroutines, and sends every item to the worker its key picks: key(v),
// hashed with maphash.Comparable, scaled to the number of workers. All the
// items of one key are handled by the same worker, one after the other, in
// input order, so a PerWorker handler may keep per-key state (a running
// total, the last event seen) without a lock; items of different keys run
// concurrently.
//
// Results are emitted as soon as they are ready, by a goroutine of their
// own, so the stages after KeyBy are never called concurrently. The
// results of one key leave in input order, since one worker handles them
// in order and hands them on in order, but there is no order between keys,
// nor any global order. The hash seed is made once per stage value: a key
// goes to the same worker in every run of one stage value, but not across
// stage values or processes. A key that is not equal to itself (a NaN) has
// no fixed worker.
//
// Items wait for the workers in a buffer of Buffer items (default
// DefaultBuffer), split between them: each worker has a queue of
// ⌈Buffer/workers⌉ items, and takes all that wait in it at once, so as many
// again may be in its hands. When the queue of an item's worker is full,
// the stage before KeyBy waits, even while other workers are idle: a busy
// key holds the source back instead of growing memory. Results leave
// through a second buffer of Buffer items, which also counts the results
// the emitter is passing on. So KeyBy holds at most about 3·Buffer items;
// an unordered ParMap, about 2·Buffer plus 64 per worker.
//
// Unlike ParMap, KeyBy cannot let an idle worker take a busy one's items
// (that would break the order of their keys): a key much busier than the
// others makes its worker the bottleneck. Items reach a worker in batches,
// all that came into its queue while it was busy; an idle worker waits for
// about flow.ChunkBudget of work to come (as many items as the cost it
// measured makes that, at most 64 and a full queue), but no longer than
// flow.Linger, and
// then takes each item as it comes until it next finds some waiting, so a
// slow trickle of items is not held back. Items go into the queues in
// input order, so that an item waits only for room in its own worker's
// queue or in that of an item before it, never for a later one's. A worker
// hands its results on in pieces of about flow.ChunkBudget of work, so
// slow items leave one at a time.
//
// key runs under the stage's error policy, like the handler: a key that
// panics fails, skips or dead-letters its item. Items are labelled in
// errors and logs by their position in the stage's input, or by Label.
//
// With a PerWorker Proc each worker builds its own handler when it starts
// and closes it when it stops; its Worker.ID, from 1, names its partition.
//
// workers must be >= 1 and key must not be nil; otherwise, as with a zero
// Proc, the pipeline reports an invalid stage before anything runs.
//
// For example, a running total per account, kept without a lock:
//
//	type runningTotal struct{ sums map[string]int } // one worker's accounts
//
//	func (r *runningTotal) Handle(_ context.Context, p Payment) (Total, error) {
//		r.sums[p.Account] += p.Amount
//		return Total{p.Account, r.sums[p.Account]}, nil
//	}
//
//	totals := stage.PerWorker(func(context.Context, stage.Worker) (stage.Handler[Payment, Total], error) {
//		return &runningTotal{sums: map[string]int{}}, nil
//	})
//	p.Via(stage.KeyBy(4, func(p Payment) string { return p.Account }, totals))
func KeyBy[In, Out any, K comparable](workers int, key func(In) K, p Proc[In, Out], opts ...Option) *Of[In, Out] {
	o := collect("keyby", opts)
	switch {
	case workers < 1:
		return invalidStage[In, Out](o.name, fmt.Sprintf("workers must be >= 1, got %d", workers))
	case key == nil:
		return invalidStage[In, Out](o.name, "nil key function")
	case !p.valid():
		return invalidStage[In, Out](o.name, "nil handler")
	case o.err != "":
		return invalidStage[In, Out](o.name, o.err)
	}
	seed := maphash.MakeSeed()
	nw := uint64(workers)
	// An item's worker is its key's hash scaled to [0, workers): the high
	// word of hash*workers, which costs less than a division.
	pick := func(_ context.Context, v In) (int, error) {
		w, _ := bits.Mul64(maphash.Comparable(seed, key(v)), nw)
		return int(w), nil
	}
	// pickRun is pick for a run, with one deferred recover and one
	// indirect call for the whole run: it sets ws[i] to the worker of
	// vs[i], for every item or up to the first whose key panics, and
	// returns how many it set and that panic.
	pickRun := func(vs []In, ws []int) (n int, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = flow.NewPanicError(p)
			}
		}()
		for i, v := range vs {
			w, _ := bits.Mul64(maphash.Comparable(seed, key(v)), nw)
			ws[i] = int(w)
			n++
		}
		return n, nil
	}
	queue := (o.buffer + workers - 1) / workers // each worker's, in items
	// Batches in use at once, which free lists keep for every run of the
	// stage: on the way in, each worker's queue, the batch in its hands
	// and the one the intake sorts its items into, and the intake's own;
	// on the way out, a piece per place in the results queue, and one in
	// each worker's hands and in the emitter's.
	inFree, outFree := newKeyedFree[In](3*workers+1), newKeyedFree[Out](o.buffer+workers+1)
	return newOf[In, Out](o.name, NextOf[Out], func(sc *flow.Scope, down flow.Port[Out]) (flow.Port[In], error) {
		g, err := guard[In](sc, o)
		if err != nil {
			return nil, err
		}
		r := &keyedRun[In, Out]{
			sc: sc, g: g, proc: p, down: flow.Runs(down),
			pick: pick, pickRun: pickRun,
			lanes:   make([]*lane[In], workers),
			sorted:  make([]*keyed[In], workers),
			done:    make([]int, workers),
			one:     inFree.get(1, true),
			room:    o.buffer,
			outRoom: flow.NewWindow(o.buffer, workers),
			out:     make(chan *keyed[Out], o.buffer),
			inFree:  inFree,
			outFree: outFree,
			shifts:  make([]*flow.Shift, workers),
		}
		for i := range workers {
			r.lanes[i] = newLane(queue, inFree.get(queue, false))
			r.sorted[i] = inFree.get(min(queue, maxChunk), false)
			r.shifts[i] = sc.Meter.Shift()
		}
		r.live.Store(int32(workers))
		sc.Meter.Concurrent(workers)
		for id := 1; id <= workers; id++ {
			sc.Go(func(ctx context.Context) error { return r.work(ctx, id) })
		}
		sc.Go(r.emit)
		return r, nil
	})
}

// keyedRun is one run of a KeyBy stage: the intake (its Port, used by the
// goroutine before it), which sorts items into the workers' lanes; the
// workers (keyed_worker.go), one per lane; and the emitter, which passes
// their results on to the stages after it.
type keyedRun[In, Out any] struct {
	sc   *flow.Scope
	g    *flow.Guard[In]
	proc Proc[In, Out]
	down flow.RunPort[Out]

	pick    func(context.Context, In) (int, error) // the worker of an item, from 0
	pickRun func(vs []In, ws []int) (int, error)   // pick for a run: see KeyBy

	lanes   []*lane[In]      // each worker's queue
	room    int              // places in the results queue
	outRoom *flow.Window     // places for items in out
	out     chan *keyed[Out] // closed by the last worker to stop
	inFree  *keyedFree[In]   // recycled batches, shared by the runs
	outFree *keyedFree[Out]  // of the stage value
	failed  atomic.Bool      // a worker stopped on an error: do not Close down
	live    atomic.Int32     // workers still running
	shifts  []*flow.Shift    // each worker's part of the meter

	// The intake's state, owned by the goroutine before KeyBy.
	seq    int64         // index of the next item
	sorted []*keyed[In]  // PushRun's items, sorted by worker
	done   []int         // how many of each worker's sorted items are in its lane
	one    *keyed[In]    // Push's item
	ws     [maxChunk]int // PushRun's workers of the items it sorts
}

// Push hands v to its worker.
func (r *keyedRun[In, Out]) Push(ctx context.Context, v In, t flow.Tag) error {
	idx := r.seq
	r.seq++
	w, ok, err := flow.Call(ctx, r.g, idx, v, t, r.pick)
	if !ok {
		return err // the key failed: err is nil when the policy went on without it
	}
	b := r.one
	b.vs, b.ts, b.idx = append(b.vs, v), append(b.ts, t), append(b.idx, idx)
	err = r.lanes[w].put(ctx, b, 0, 1)
	b.reset()
	return err
}

// PushRun sorts the items of a run by worker, and hands each worker its
// items, up to maxChunk items of the run at a time.
func (r *keyedRun[In, Out]) PushRun(ctx context.Context, vs []In, ts []flow.Tag) error {
	for len(vs) > 0 {
		k := min(len(vs), len(r.ws))
		n, perr := r.pickRun(vs[:k], r.ws[:k])
		for i, v := range vs[:n] {
			r.sorted[r.ws[i]].add(v, ts, i, r.seq)
			r.seq++
		}
		if n < k {
			// The key of vs[n] panicked: the item takes the policy's path,
			// with that panic as its first failure.
			idx := r.seq
			r.seq++
			w, ok, err := flow.Recover(ctx, r.g, idx, vs[n], flow.TagAt(ts, n), perr, r.pick)
			if err != nil {
				return err
			}
			if ok {
				r.sorted[w].add(vs[n], ts, n, idx)
			}
			n++
		}
		if err := r.putSorted(ctx); err != nil {
			return err
		}
		vs = vs[n:]
		if ts != nil {
			ts = ts[n:]
		}
	}
	return nil
}

// putSorted puts the items sorted by worker in their workers' lanes: all
// that fit at once, then the rest in input order, waiting for room. So an
// item waits only for room in its own lane, or in that of an item before
// it, as if items were pushed one at a time: no item is held back behind a
// later one whose worker is busy (and perhaps waits for the earlier item).
func (r *keyedRun[In, Out]) putSorted(ctx context.Context) error {
	done := r.done
	left := false
	for w, b := range r.sorted {
		done[w] = 0
		if len(b.vs) > 0 {
			done[w] = r.lanes[w].add(b, 0, len(b.vs))
			left = left || done[w] < len(b.vs)
		}
	}
	for left {
		// The lane whose first item left is the earliest: put its items
		// up to the first item left of another lane.
		w, first, next := -1, int64(math.MaxInt64), int64(math.MaxInt64)
		for x, b := range r.sorted {
			if done[x] == len(b.vs) {
				continue
			}
			switch i := b.idx[done[x]]; {
			case i < first:
				w, first, next = x, i, first
			case i < next:
				next = i
			}
		}
		if w < 0 {
			break
		}
		b, end := r.sorted[w], done[w]
		for end < len(b.vs) && b.idx[end] < next {
			end++
		}
		if err := r.lanes[w].put(ctx, b, done[w], end); err != nil {
			return err
		}
		done[w] = end
	}
	for _, b := range r.sorted {
		b.reset()
	}
	return nil
}

// Close ends every worker's input: each stops once it has handled what its
// queue holds.
func (r *keyedRun[In, Out]) Close(context.Context) error {
	for _, l := range r.lanes {
		l.close()
	}
	for _, b := range r.sorted {
		r.inFree.put(b)
	}
	r.inFree.put(r.one)
	r.sorted, r.one = nil, nil
	return nil
}

// emit passes results on to the stages after KeyBy, as they come. It runs
// in its own goroutine, so the fused stages after KeyBy (and the sink) are
// never called concurrently.
func (r *keyedRun[In, Out]) emit(ctx context.Context) error {
	tick := 0 // pieces since the results queue's depth was sampled
	for {
		select {
		case b, ok := <-r.out:
			if !ok {
				if r.failed.Load() {
					return nil // the failing worker reports the error
				}
				return r.down.Close(ctx)
			}
			ts := b.ts
			if !b.tagged {
				ts = nil // fresh source items, as the runs that brought them
			}
			err := r.down.PushRun(ctx, b.vs, ts)
			// The results' places are free once they have gone on, so that
			// the results queue bounds what the emitter holds too.
			free := r.outRoom.Release(len(b.vs))
			r.outFree.put(b)
			if err != nil {
				return err
			}
			if tick++; tick == sampleEvery && r.sc.Meter != nil {
				r.sc.Meter.QueueOut(r.room - free)
				tick = 0
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// keyed is a batch of items with their tags and, on the way in, their
// indexes in the stage's input, which the items of one worker do not follow
// one another in. The items of a batch that is not tagged are all fresh
// from the source (tagged flow.One), and it keeps no tags: a source's run
// crosses KeyBy without them, as it crosses fused stages.
type keyed[T any] struct {
	vs     []T
	ts     []flow.Tag // when tagged, the tag of each item
	idx    []int64    // on the way in, the index of each item
	tagged bool
}

// add appends the idx-th input item, v, the i-th of a run tagged ts.
func (b *keyed[T]) add(v T, ts []flow.Tag, i int, idx int64) {
	if len(b.vs) == 0 {
		b.tagged = ts != nil
	} else if ts != nil && !b.tagged {
		b.tagAll()
	}
	b.vs = append(b.vs, v)
	b.idx = append(b.idx, idx)
	if b.tagged {
		b.ts = append(b.ts, flow.TagAt(ts, i))
	}
}

// addRange appends the items from to end of src.
func (b *keyed[T]) addRange(src *keyed[T], from, end int) {
	if len(b.vs) == 0 {
		b.tagged = src.tagged
	} else if src.tagged && !b.tagged {
		b.tagAll()
	}
	b.vs = append(b.vs, src.vs[from:end]...)
	b.idx = append(b.idx, src.idx[from:end]...)
	switch {
	case src.tagged:
		b.ts = append(b.ts, src.ts[from:end]...)
	case b.tagged:
		for range end - from {
			b.ts = append(b.ts, flow.One())
		}
	}
}

// tagAll gives the items of an untagged batch their tags, as a tagged
// item joins them.
func (b *keyed[T]) tagAll() {
	for range b.vs {
		b.ts = append(b.ts, flow.One())
	}
	b.tagged = true
}

// tag returns the tag of the i-th item.
func (b *keyed[T]) tag(i int) flow.Tag {
	if !b.tagged {
		return flow.One()
	}
	return b.ts[i]
}

// reset empties b, dropping its references to items.
func (b *keyed[T]) reset() {
	clear(b.vs)
	clear(b.ts)
	b.vs, b.ts, b.idx = b.vs[:0], b.ts[:0], b.idx[:0]
}

// keyedFree is a free list of batches; get and put never block.
type keyedFree[T any] struct{ free chan *keyed[T] }

func newKeyedFree[T any](keep int) *keyedFree[T] {
	return &keyedFree[T]{free: make(chan *keyed[T], keep)}
}

// get returns an empty batch, tagged or not; a new one has room for n
// items.
func (f *keyedFree[T]) get(n int, tagged bool) *keyed[T] {
	var b *keyed[T]
	select {
	case b = <-f.free:
	default:
		b = &keyed[T]{vs: make([]T, 0, n)} // the rest grows as items are added
	}
	b.tagged = tagged
	return b
}

// put empties b and keeps it for reuse.
func (f *keyedFree[T]) put(b *keyed[T]) {
	b.reset()
	select {
	case f.free <- b:
	default:
	}
}
