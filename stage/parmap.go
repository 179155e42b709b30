package stage

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// ParMap runs the handler of p on workers goroutines: the seed's
// num_workers processes, each taking the next items from a bounded queue.
//
// Items wait in a buffer of Buffer items (default DefaultBuffer); when it is
// full the stage before ParMap waits, so a slow ParMap holds the source back.
// Results leave through a second buffer of the same size.
//
// Items travel to the workers, and results from them, in chunks: one channel
// operation moves many cheap items. The chunk size adapts to the measured
// cost of an item: items that take 100µs or more go one at a time. A worker
// with nothing to do takes the unstarted half of a busy worker's chunk, so
// slow items never wait behind a busy worker while another is idle. Once a
// worker has waited 50µs for work, what the stage before ParMap holds is
// handed on at once, so a slow trickle of items, or a source that waits for
// its own results, is not held back.
//
// By default results are emitted as soon as each is ready (unordered, the
// fastest path). With Ordered they are emitted in input order: each result
// as soon as every result before it is out; at most Window items are between
// the source and the emitter, so a slow head item applies backpressure
// instead of growing memory.
//
// With a PerWorker Proc each worker builds its own handler when it starts
// and closes it when it stops.
//
// workers must be >= 1; otherwise, as with a zero Proc, the pipeline reports
// an invalid stage before anything runs.
func ParMap[In, Out any](workers int, p Proc[In, Out], opts ...Option) *Of[In, Out] {
	o := collect("parmap", opts)
	switch {
	case workers < 1:
		return invalidStage[In, Out](o.name, fmt.Sprintf("workers must be >= 1, got %d", workers))
	case !p.valid():
		return invalidStage[In, Out](o.name, "nil handler")
	case o.err != "":
		return invalidStage[In, Out](o.name, o.err)
	}
	window := o.window
	if window == 0 {
		window = DefaultWindow(workers, o.buffer)
	}
	size := min(maxChunk, o.buffer)
	if o.ordered {
		// Room in the window for a chunk per worker and for the chunks
		// queued on either side of them.
		size = max(1, min(size, window/(workers+2)))
	}
	// Each queue holds Buffer items, rounded up to whole chunks, in as many
	// chunks, which are single items when items are slow; a Window on each
	// counts the items, and each channel has room for as many chunks as
	// items, so a send that was counted never blocks.
	room := (o.buffer + size - 1) / size * size
	// Chunks in use at once: a queue of single items, one in each worker's
	// hands and one it steals or sends, the intake's and the emitter's. The
	// free lists keep as many and serve every run of the stage, so a warm
	// run allocates none.
	keep := room + 2*workers + 2
	inFree, outFree := flow.NewChunks[In](keep), flow.NewChunks[Out](keep)
	if o.ordered {
		outFree = flow.NewChunks[Out](keep + window)
	}
	return newOf[In, Out](o.name, NextOf[Out], func(sc *flow.Scope, down flow.Port[Out]) (flow.Port[In], error) {
		g, err := guard[In](sc, o)
		if err != nil {
			return nil, err
		}
		r := &parMapRun[In, Out]{
			sc: sc, g: g, proc: p, down: flow.Runs(down), ordered: o.ordered,
			sizer:   flow.NewSizer(size),
			room:    room,
			active:  make([]atomic.Pointer[flow.Chunk[In]], workers),
			thief:   make(chan struct{}, 1),
			drained: make(chan struct{}),
			inRoom:  flow.NewWindow(room, 1),
			outRoom: flow.NewWindow(room, workers),
			in:      make(chan *flow.Chunk[In], room),
			out:     make(chan *flow.Chunk[Out], room),
			inFree:  inFree,
			outFree: outFree,
		}
		if o.ordered {
			r.window = flow.NewWindow(window, 1)
			// Chunks wait here by their first item's index. In flight are
			// window items, and the chunk the intake is sending waits for
			// its places beyond them: no two chunks share a slot.
			r.pending = make([]*flow.Chunk[Out], window+size)
		}
		r.live.Store(int32(workers))
		sc.Meter.Concurrent(workers)
		r.shifts = make([]*flow.Shift, workers)
		for i := range r.shifts {
			r.shifts[i] = sc.Meter.Shift()
		}
		for id := 1; id <= workers; id++ {
			sc.Go(func(ctx context.Context) error { return r.work(ctx, id) })
		}
		sc.Go(r.emit)
		return r, nil
	})
}

// maxChunk is the most items a ParMap chunk holds.
const maxChunk = 64

// DefaultWindow is the window of an ordered ParMap without a Window option:
// as many items as an unordered ParMap of the same workers and buffer can
// hold, so that keeping order costs no more memory. That is two buffers,
// and a chunk for each worker, the intake and the emitter.
func DefaultWindow(workers, buffer int) int {
	return 2*buffer + (workers+2)*min(maxChunk, buffer)
}

// parMapRun is one run of a ParMap stage: the intake (its Port, used by the
// goroutine before it; parmap_intake.go), the workers (parmap_worker.go),
// and the emitter that passes results on to the stages after it
// (parmap_emit.go).
type parMapRun[In, Out any] struct {
	sc      *flow.Scope
	g       *flow.Guard[In]
	proc    Proc[In, Out]
	down    flow.RunPort[Out]
	ordered bool
	sizer   *flow.Sizer

	room    int                   // places in each queue
	inRoom  *flow.Window          // places for items in in
	outRoom *flow.Window          // places for items in out
	in      chan *flow.Chunk[In]  // closed by Close, after the last Push
	out     chan *flow.Chunk[Out] // closed by the last worker to stop
	inFree  *flow.Chunks[In]
	outFree *flow.Chunks[Out]
	window  *flow.Window       // ordered only: items not yet emitted
	pending []*flow.Chunk[Out] // ordered only: the emitter's reorder ring
	failed  atomic.Bool        // a worker stopped on an error: do not Close down
	live    atomic.Int32       // workers still running

	shifts []*flow.Shift                    // each worker's part of the meter
	active []atomic.Pointer[flow.Chunk[In]] // each worker's chunk, for thieves
	thief  chan struct{}                    // wakes a waiting worker to steal

	// At the end of the input: workers with nothing left to steal, and
	// closed once that is every worker.
	finishing   atomic.Int32
	drained     chan struct{}
	drainedOnce sync.Once

	// waiting counts the workers that have waited longer than Linger for a
	// chunk: while there are any, the intake hands on every item at once.
	_       [64]byte // keep it off the cache line of the intake's state
	waiting atomic.Int32
	_       [64]byte

	// The intake's state. mu guards the chunk being filled, which a
	// waiting worker may take when the goroutine before ParMap holds it
	// and does not come back (its source waits for something).
	mu  sync.Mutex
	cur *flow.Chunk[In] // the chunk being filled
	seq int64           // index of the next item
	// sendMu is held by whoever puts a chunk in the queue, from the moment
	// it takes places in the window, so that chunks take them in order.
	sendMu sync.Mutex
	closed bool // in is closed
}
