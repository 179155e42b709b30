package stage

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
	"go.uber.org/zap"
)

// ParMap runs the handler of p on workers goroutines: the seed's
// num_workers processes, each taking the next item from a bounded queue.
//
// Items wait in a buffer of Buffer items (default DefaultBuffer); when it is
// full the stage before ParMap waits, so a slow ParMap holds the source back.
// Results leave through a second buffer of the same size.
//
// By default results are emitted as soon as each is ready (unordered, the
// fastest path). With Ordered they are emitted in input order: each result
// as soon as every result before it is out; at most Window items are between
// the source and the emitter, so a slow head item applies backpressure
// instead of growing memory.
//
// Workers take items one at a time, so slow items spread evenly over all
// workers. With a PerWorker Proc each worker builds its own handler when it
// starts and closes it when it stops.
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
		window = o.buffer + 2*workers
	}
	return newOf[In, Out](o.name, NextOf[Out], func(sc *flow.Scope, down flow.Port[Out]) (flow.Port[In], error) {
		g, err := guard[In](sc, o)
		if err != nil {
			return nil, err
		}
		r := &parMapRun[In, Out]{
			sc: sc, g: g, proc: p, down: down, ordered: o.ordered,
			in:  make(chan job[In], o.buffer),
			out: make(chan result[Out], o.buffer),
		}
		if o.ordered {
			r.window = make(chan struct{}, window)
		}
		r.live.Store(int32(workers))
		for id := 1; id <= workers; id++ {
			sc.Go(func(ctx context.Context) error { return r.work(ctx, id) })
		}
		sc.Go(r.emit)
		return r, nil
	})
}

type job[In any] struct {
	seq int64
	v   In
	t   flow.Tag
}

type result[Out any] struct {
	seq  int64
	v    Out
	t    flow.Tag
	keep bool // false: the item was skipped or dead-lettered (a hole in the order)
	set  bool // the reorder slot holds a result
}

// parMapRun is one run of a ParMap stage: the intake (its Port, used by the
// goroutine before it), the workers, and the emitter that passes results on
// to the stages after it.
type parMapRun[In, Out any] struct {
	sc      *flow.Scope
	g       *flow.Guard[In]
	proc    Proc[In, Out]
	down    flow.Port[Out]
	ordered bool

	in     chan job[In]     // closed by Close, after the last Push
	out    chan result[Out] // closed by the last worker to stop
	window chan struct{}    // ordered only: one token per item not yet emitted
	live   atomic.Int32     // workers still running
	failed atomic.Bool      // a worker stopped on an error: do not Close down
	seq    int64            // next input sequence number; intake only
}

func (r *parMapRun[In, Out]) Push(ctx context.Context, v In, t flow.Tag) error {
	if r.window != nil {
		select {
		case r.window <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j := job[In]{seq: r.seq, v: v, t: t}
	r.seq++
	select {
	case r.in <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *parMapRun[In, Out]) Close(context.Context) error {
	close(r.in)
	return nil
}

// work is one worker's loop.
func (r *parMapRun[In, Out]) work(ctx context.Context, id int) (err error) {
	defer func() {
		if err != nil {
			r.failed.Store(true)
		}
		if r.live.Add(-1) == 0 {
			close(r.out)
		}
	}()
	h, err := r.handler(ctx, id)
	if err != nil {
		return err
	}
	if c, ok := h.(io.Closer); ok && r.proc.init != nil {
		defer func() {
			if cerr := r.closeHandler(id, c); err == nil {
				err = cerr
			}
		}()
	}
	handle := h.Handle
	// The seed's workers log "batch_done. item: <log_item> time spent: ..."
	// after each item; ParMap does the same at debug level, and only looks
	// at the level once.
	log := r.sc.Logger.Named("worker-" + strconv.Itoa(id))
	debug := log.Core().Enabled(zap.DebugLevel)
	for {
		select {
		case j, ok := <-r.in:
			if !ok {
				return nil
			}
			v, keep, err := flow.Call(ctx, r.g, j.seq, j.v, j.t, handle)
			if err != nil {
				return err
			}
			if debug && keep {
				log.Debug("done", zap.String("item", r.g.Label(j.seq, j.v)), zap.Duration("time spent", time.Since(r.sc.Run.Start)))
			}
			if !keep && !r.ordered {
				continue
			}
			select {
			case r.out <- result[Out]{seq: j.seq, v: v, t: j.t, keep: keep}:
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handler returns the shared handler, or builds this worker's own.
func (r *parMapRun[In, Out]) handler(ctx context.Context, id int) (h Handler[In, Out], err error) {
	if r.proc.shared != nil {
		return r.proc.shared, nil
	}
	name := "worker-" + strconv.Itoa(id)
	defer func() {
		if p := recover(); p != nil {
			err = r.workerError(name, flow.NewPanicError(p))
		}
	}()
	h, err = r.proc.init(ctx, Worker{ID: id, Logger: r.sc.Logger.Named(name)})
	if err != nil {
		return nil, r.workerError(name, fmt.Errorf("init: %w", err))
	}
	if h == nil {
		return nil, r.workerError(name, fmt.Errorf("init returned a nil handler"))
	}
	return h, nil
}

func (r *parMapRun[In, Out]) closeHandler(id int, c io.Closer) (err error) {
	name := "worker-" + strconv.Itoa(id)
	defer func() {
		if p := recover(); p != nil {
			err = r.workerError(name, flow.NewPanicError(p))
		}
	}()
	if err := c.Close(); err != nil {
		return r.workerError(name, fmt.Errorf("close: %w", err))
	}
	return nil
}

func (r *parMapRun[In, Out]) workerError(worker string, err error) error {
	return &flow.Error{Stage: r.sc.Name, Index: r.sc.Index, Label: worker, Err: err}
}

// emit passes results on to the stages after ParMap, reordering them first
// when the stage is ordered. It runs in its own goroutine, so the fused
// stages after ParMap (and the sink) never run concurrently.
func (r *parMapRun[In, Out]) emit(ctx context.Context) error {
	var pending []result[Out] // ordered: slot seq % len(pending)
	var next int64            // ordered: the next sequence number to emit
	if r.ordered {
		pending = make([]result[Out], cap(r.window))
	}
	for {
		select {
		case res, ok := <-r.out:
			if !ok {
				if r.failed.Load() {
					return nil // the failing worker reports the error
				}
				return r.down.Close(ctx)
			}
			if !r.ordered {
				if err := r.down.Push(ctx, res.v, res.t); err != nil {
					return err
				}
				continue
			}
			res.set = true
			pending[res.seq%int64(len(pending))] = res
			for {
				slot := &pending[next%int64(len(pending))]
				if !slot.set {
					break
				}
				head := *slot
				*slot = result[Out]{}
				next++
				<-r.window // free the item's place in the window
				if head.keep {
					if err := r.down.Push(ctx, head.v, head.t); err != nil {
						return err
					}
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
