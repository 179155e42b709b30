package stage

import (
	"context"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// emit passes results on to the stages after ParMap, reordering the chunks
// first when the stage is ordered: by the input items each stands for, as
// a worker may split a chunk. It runs in its own goroutine, so the
// fused stages after ParMap (and the sink) never run concurrently.
func (r *parMapRun[In, Out]) emit(ctx context.Context) error {
	var next int64 // ordered: the index of the next input item to emit
	tick := 0      // chunks since the output queue's depth was sampled
	for {
		select {
		case c, ok := <-r.out:
			if !ok {
				if r.failed.Load() {
					return nil // the failing worker reports the error
				}
				return r.down.Close(ctx)
			}
			free := r.outRoom.Release(c.Len())
			if tick++; tick == sampleEvery && r.sc.Meter != nil {
				r.sc.Meter.QueueOut(r.room - free)
				tick = 0
			}
			if !r.ordered {
				if err := r.pass(ctx, c); err != nil {
					return err
				}
				continue
			}
			ring := int64(len(r.pending))
			r.pending[c.First%ring] = c
			for {
				head := r.pending[next%ring]
				if head == nil {
					break
				}
				r.pending[next%ring] = nil
				n := head.N
				next += int64(n)
				if err := r.pass(ctx, head); err != nil {
					return err
				}
				r.window.Release(n) // free the items' places in the window
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sampleEvery is how often, in chunks, the emitter samples the depth of
// the output queue for the stage's meter.
const sampleEvery = 16

// pass pushes the results of chunk c downstream and recycles c.
func (r *parMapRun[In, Out]) pass(ctx context.Context, c *flow.Chunk[Out]) error {
	err := r.down.PushRun(ctx, c.Vs, c.Ts)
	r.outFree.Put(c)
	return err
}
