package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// TimeWindow groups items into tumbling windows of time: for each period of
// every, counted from the start of the run (0 to every, every to 2*every,
// ...), it passes on, as one slice and in order, the items that arrived in
// that period, at the period's end. A period in which no item arrived
// passes nothing on. When the input ends, the items of the period under way
// go on at once. Each window is a new slice that the stages after it may
// keep, and stands for all its items' source items, as a batch does.
//
// TimeWindow runs in its own goroutine behind a bounded buffer of Buffer
// items, like a Batch with MaxWait: an item's period is the one in which the
// goroutine takes it from the buffer, so while the stages after it are slow
// to take a window, the items that meanwhile wait in the buffer go in a
// later one. A run cut short (a failure, a cancellation) abandons the
// window under way.
//
// It is not named Window because the option Window, which bounds an ordered
// ParMap, has that name.
func TimeWindow[T any](every time.Duration, opts ...Option) *Of[T, []T] {
	o := collect("window", opts)
	if every <= 0 {
		return invalidStage[T, []T](o.name, fmt.Sprintf("window period must be > 0, got %v", every))
	}
	if o.err != "" {
		return invalidStage[T, []T](o.name, o.err)
	}
	return newOf[T, []T](o.name, NextOf[[]T], func(sc *flow.Scope, down flow.Port[[]T]) (flow.Port[T], error) {
		w := &windowPort[T]{every: every, in: make(chan tagged[T], o.buffer), down: down, m: sc.Meter, shift: sc.Meter.Shift(), clock: sc.Run.Start}
		sc.Meter.Concurrent(1)
		sc.Go(w.run)
		return w, nil
	})
}

// windowPort is TimeWindow's: items cross a bounded channel to a goroutine
// that owns the window under way and its timer.
type windowPort[T any] struct {
	every time.Duration
	in    chan tagged[T]
	down  flow.Port[[]T]

	m     *flow.Meter // nil when the run is not metered
	shift *flow.Shift
	clock time.Time // the run's start, which the periods count from
	// The goroutine's time since the last window went, not yet given to
	// m: since when, and how much of it waiting for items.
	since, idle time.Duration
}

func (w *windowPort[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	select {
	case w.in <- tagged[T]{v, t}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close is called by the goroutine that sends to in, once, after its last
// Push; closing in tells run the stream has ended.
func (w *windowPort[T]) Close(context.Context) error {
	close(w.in)
	return nil
}

func (w *windowPort[T]) run(ctx context.Context) error {
	timer := time.NewTimer(w.every)
	timer.Stop()
	defer timer.Stop()
	var expired <-chan time.Time // nil while no window is under way
	var end time.Duration        // the end of the window under way, since clock
	var buf []T
	var tags tagFold
	flush := func() error {
		win, t := buf, tags.take()
		buf = make([]T, 0, len(win)) // the next window is likely as large
		timer.Stop()
		expired = nil
		if w.m == nil {
			return w.down.Push(ctx, win, t)
		}
		start := time.Since(w.clock)
		err := w.down.Push(ctx, win, t)
		w.account(start, time.Since(w.clock))
		return err
	}
	if w.m != nil {
		defer func() {
			end := time.Since(w.clock)
			w.account(end, end)
			w.m.Lived(end)
		}()
	}
	for {
		var waited time.Duration // since when the goroutine waits, when metered
		if w.m != nil {
			waited = time.Since(w.clock)
		}
		select {
		case it, ok := <-w.in:
			now := time.Since(w.clock)
			if w.m != nil {
				w.idle += now - waited
			}
			if !ok {
				if len(buf) > 0 {
					if err := flush(); err != nil {
						return err
					}
				}
				return w.down.Close(ctx)
			}
			if len(buf) > 0 && now >= end {
				// The window's timer is due but was not picked yet: the
				// item belongs to a later window.
				if err := flush(); err != nil {
					return err
				}
			}
			if len(buf) == 0 {
				end = (now/w.every + 1) * w.every
				timer.Reset(end - now)
				expired = timer.C
			}
			buf = append(buf, it.v)
			tags.add(it.t)
		case <-expired:
			if w.m != nil {
				w.idle += time.Since(w.clock) - waited
			}
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// account gives the meter the goroutine's time up to end, of which it
// waited for room downstream since pushed.
func (w *windowPort[T]) account(pushed, end time.Duration) {
	w.shift.Worked(w.idle, pushed-w.since-w.idle, 0)
	w.shift.Blocked(end - pushed)
	w.shift.Flush()
	w.since, w.idle = end, 0
}
