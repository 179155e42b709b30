package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Batch groups items into slices of size items, in order: the seed's
// build_batches. The last batch of a stream may be shorter. Each batch is a
// new slice that the stages after it may keep.
//
// Without MaxWait, Batch is sequential and runs in the goroutine before it.
// With MaxWait(d) it runs in its own goroutine behind a bounded buffer and
// also flushes a partial batch once its first item has waited d, so a slow
// trickle of items is not held back.
func Batch[T any](size int, opts ...Option) *Of[T, []T] {
	o := collect("batch", opts)
	if size < 1 {
		return invalidStage[T, []T](o.name, fmt.Sprintf("batch size must be >= 1, got %d", size))
	}
	if o.err != "" {
		return invalidStage[T, []T](o.name, o.err)
	}
	return newOf[T, []T](o.name, afterBatchOf[[]T], func(sc *flow.Scope, down flow.Port[[]T]) (flow.Port[T], error) {
		if o.maxWait <= 0 {
			return &batchPort[T]{size: size, down: down}, nil
		}
		b := &timedBatch[T]{size: size, wait: o.maxWait, in: make(chan tagged[T], o.buffer), down: down, m: sc.Meter, shift: sc.Meter.Shift(), clock: sc.Run.Start}
		sc.Meter.Concurrent(1)
		sc.Go(b.run)
		return b, nil
	})
}

// batchPort is the sequential Batch.
type batchPort[T any] struct {
	size int
	buf  []T
	tag  flow.Tag // the merged tags of the items in buf
	down flow.Port[[]T]
}

func (b *batchPort[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	if b.buf == nil {
		b.buf = make([]T, 0, b.size)
	}
	b.buf = append(b.buf, v)
	b.tag = b.tag.Merge(t)
	if len(b.buf) < b.size {
		return nil
	}
	return b.flush(ctx)
}

// PushRun copies the run's items into batches, many at a time.
func (b *batchPort[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	for len(vs) > 0 {
		if b.buf == nil {
			b.buf = make([]T, 0, b.size)
		}
		k := min(b.size-len(b.buf), len(vs))
		b.buf = append(b.buf, vs[:k]...)
		if ts == nil {
			b.tag = b.tag.Plus(int64(k))
		} else {
			for _, t := range ts[:k] {
				b.tag = b.tag.Merge(t)
			}
			ts = ts[k:]
		}
		vs = vs[k:]
		if len(b.buf) == b.size {
			if err := b.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *batchPort[T]) flush(ctx context.Context) error {
	full, t := b.buf, b.tag
	b.buf, b.tag = nil, flow.Tag{}
	return b.down.Push(ctx, full, t)
}

func (b *batchPort[T]) Close(ctx context.Context) error {
	if len(b.buf) > 0 {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	return b.down.Close(ctx)
}

// timedBatch is the Batch with MaxWait: items cross a bounded channel to a
// goroutine that owns the partial batch and its timer.
type timedBatch[T any] struct {
	size int
	wait time.Duration
	in   chan tagged[T]
	down flow.Port[[]T]

	m     *flow.Meter // nil when the run is not metered
	shift *flow.Shift
	clock time.Time // the run's start
	// The goroutine's time since the last flush, not yet given to m:
	// since when, and how much of it waiting for items.
	since, idle time.Duration
}

// tagged is an item with its tag, as it crosses a channel.
type tagged[T any] struct {
	v T
	t flow.Tag
}

func (b *timedBatch[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	select {
	case b.in <- tagged[T]{v, t}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close is called by the goroutine that sends to in, once, after its last
// Push; closing in tells run the stream has ended.
func (b *timedBatch[T]) Close(context.Context) error {
	close(b.in)
	return nil
}

func (b *timedBatch[T]) run(ctx context.Context) error {
	timer := time.NewTimer(b.wait)
	timer.Stop()
	defer timer.Stop()
	var expired <-chan time.Time // nil while no partial batch is waiting
	buf := make([]T, 0, b.size)
	var tag flow.Tag
	flush := func() error {
		full, t := buf, tag
		buf, tag = make([]T, 0, b.size), flow.Tag{}
		timer.Stop()
		expired = nil
		if b.m == nil {
			return b.down.Push(ctx, full, t)
		}
		start := time.Since(b.clock)
		err := b.down.Push(ctx, full, t)
		b.account(start, time.Since(b.clock))
		return err
	}
	if b.m != nil {
		defer func() {
			end := time.Since(b.clock)
			b.account(end, end)
			b.m.Lived(end)
		}()
	}
	for {
		var waited time.Duration
		if b.m != nil {
			waited = time.Since(b.clock)
		}
		select {
		case it, ok := <-b.in:
			b.waited(waited)
			if !ok {
				if len(buf) > 0 {
					if err := flush(); err != nil {
						return err
					}
				}
				return b.down.Close(ctx)
			}
			if len(buf) == 0 {
				timer.Reset(b.wait)
				expired = timer.C
			}
			buf = append(buf, it.v)
			tag = tag.Merge(it.t)
			if len(buf) == b.size {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-expired:
			b.waited(waited)
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waited counts the time since from as waiting for items.
func (b *timedBatch[T]) waited(from time.Duration) {
	if b.m != nil {
		b.idle += time.Since(b.clock) - from
	}
}

// account gives the meter the goroutine's time up to end, of which it
// waited for room downstream since pushed.
func (b *timedBatch[T]) account(pushed, end time.Duration) {
	b.shift.Worked(b.idle, pushed-b.since-b.idle, 0)
	b.shift.Blocked(end - pushed)
	b.shift.Flush()
	b.since, b.idle = end, 0
}
