package stage_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests of ParMap's chunked transport: items travel between goroutines
// in chunks whose size adapts to the items' cost, and none of that may show
// in what ParMap promises.

// held is a handler whose items from slow on block until release is
// closed, counting how many of them are in the handler at once; the items
// before slow return at once.
type held struct {
	slow    int
	release chan struct{}
	running atomic.Int32
}

func (h *held) Handle(ctx context.Context, v int) (int, error) {
	if v < h.slow {
		return v * 10, nil
	}
	h.running.Add(1)
	defer h.running.Add(-1)
	select {
	case <-h.release:
		return v * 10, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// settle returns, in a synctest bubble, once the run has gone as far as it
// can: every goroutine blocked, and every timer (a worker's Linger, its
// retries for a held chunk) that could move it on has fired. The bubble's
// clock is fake: the sleep takes no real time, and nothing here measures
// speed.
func settle() {
	synctest.Wait()
	time.Sleep(time.Second)
	synctest.Wait()
}

// checkSlowItemsSpread runs cheap items then n slow ones through ParMap and
// checks that, once every goroutine of the run is blocked, exactly
// min(workers, n) slow items are in a handler: each worker holds one, and
// none waits in a chunk behind a busy worker while another is idle.
// settle returns once as many items have started as ever will before one
// finishes. With open, the source stays open (it waits
// for the release) instead of ending after its last item.
func checkSlowItemsSpread(t *testing.T, workers, cheap, n int, ord ordering, open bool) {
	synctest.Test(t, func(t *testing.T) {
		h := &held{slow: cheap, release: make(chan struct{})}
		src := source.Func(func(ctx context.Context, yield func(int) bool) error {
			for i := range cheap + n {
				if !yield(i) {
					return nil
				}
			}
			if open {
				<-h.release
			}
			return nil
		})
		var got []int
		done := make(chan pipeline.ExitStatus, 1)
		go func() {
			done <- pipeline.New(src).
				Via(stage.ParMap(workers, stage.Handle[int, int](h), ord.opts()...)).
				Sink(sink.Collect(&got)).
				Run(context.Background())
		}()

		settle()
		assert.EqualValues(t, min(workers, n), h.running.Load(), "handlers running while every slow item blocks")

		close(h.release)
		st := <-done
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		want := make([]int, cheap+n)
		for i := range want {
			want[i] = i * 10
		}
		if ord.ordered {
			assert.Equal(t, want, got)
		} else {
			assert.ElementsMatch(t, want, got)
		}
	})
}

func TestParMapSlowItemsSpreadOverAllWorkers(t *testing.T) {
	for _, workers := range []int{1, 2, 4, 8} {
		for _, ord := range orderings {
			for _, n := range []int{3, 20} {
				t.Run(fmt.Sprintf("with %d workers %s %d slow items keep min(workers, items) handlers busy", workers, ord.name, n), func(t *testing.T) {
					checkSlowItemsSpread(t, workers, 0, n, ord, false)
				})
			}
		}
	}
}

// TestParMapSlowItemsAfterCheapOnesSpreadOverAllWorkers is the same after a
// burst of cheap items has grown the chunks to 64: the Sizer learns that
// items became slow only once a chunk of them is done, so the first slow
// items travel in one chunk, and idle workers must take items from it.
// At the end of the stream the workers' races with the intake's close vary
// from run to run: each case runs 10 times, up to its first failure.
func TestParMapSlowItemsAfterCheapOnesSpreadOverAllWorkers(t *testing.T) {
	for _, open := range []bool{true, false} {
		where := "at the end of the stream"
		if open {
			where = "while the source stays open"
		}
		for _, workers := range []int{2, 4} {
			for _, ord := range orderings {
				t.Run(fmt.Sprintf("%s with %d workers %s 20 slow items after 2000 cheap ones keep every worker busy", where, workers, ord.name), func(t *testing.T) {
					for range 10 {
						if checkSlowItemsSpread(t, workers, 2_000, 20, ord, open); t.Failed() {
							return
						}
					}
				})
			}
		}
	}
}

func TestParMapTrickleIsNotHeldInAChunk(t *testing.T) {
	// A burst of cheap items first, so that the chunks have grown to their
	// largest; then a source that emits its next item only once the sink
	// has the one before, as a request/response loop does. An item the
	// intake keeps in a partly filled chunk would never reach the sink.
	const burst, trickle = 5_000, 20
	const stuck = 10 * time.Second
	for _, workers := range []int{1, 4} {
		for _, ord := range orderings {
			t.Run(fmt.Sprintf("with %d workers %s each item reaches the sink before the next is emitted", workers, ord.name), func(t *testing.T) {
				arrived := make(chan int, 1) // sink -> source: a trickle item is in
				src := source.Func(func(ctx context.Context, yield func(int) bool) error {
					for i := range burst {
						if !yield(i) {
							return nil
						}
					}
					for i := burst; i < burst+trickle; i++ {
						if !yield(i) {
							return nil
						}
						select {
						case v := <-arrived:
							if v != i {
								return fmt.Errorf("trickle item %d arrived while waiting for %d", v, i)
							}
						case <-time.After(stuck):
							return fmt.Errorf("trickle item %d (number %d of %d) has not reached the sink after %v", i, i-burst+1, trickle, stuck)
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					return nil
				})
				var n int
				st := run(t, pipeline.New(src).
					Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }), ord.opts()...)).
					Sink(sink.Func(func(_ context.Context, v int) error {
						n++
						if v >= burst {
							arrived <- v
						}
						return nil
					})))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, burst+trickle, n)
			})
		}
	}
}

func TestParMapSlowHeadItemHoldsMemoryWithinTheWindow(t *testing.T) {
	cases := []struct{ workers, window, buffer int }{
		{workers: 4, window: 16, buffer: 4},   // chunks of 2
		{workers: 2, window: 64, buffer: 16},  // chunks of 16
		{workers: 1, window: 40, buffer: 100}, // chunks of 13
		{workers: 4, window: 8, buffer: 2},    // chunks of 1
		{workers: 8, window: 16, buffer: 1},   // chunks of 1
		{workers: 1, window: 3, buffer: 1},    // chunks of 1
	}
	const n = 2_000
	for _, c := range cases {
		// The chunk size of an ordered ParMap (stage/parmap.go): at most
		// 64, the buffer, and a share of the window for each worker and
		// the queues on either side of them.
		chunk := max(1, min(64, c.buffer, c.window/(c.workers+2)))
		name := fmt.Sprintf("with %d workers, window %d and buffer %d the source stops within window + a chunk", c.workers, c.window, c.buffer)
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var emitted atomic.Int64
				src := source.Func(func(_ context.Context, yield func(int) bool) error {
					for i := range n {
						emitted.Add(1)
						if !yield(i) {
							return nil
						}
					}
					return nil
				})
				release := make(chan struct{})
				h := func(ctx context.Context, v int) (int, error) {
					if v == 0 {
						select {
						case <-release:
						case <-ctx.Done():
							return 0, ctx.Err()
						}
					}
					return v, nil
				}
				var got []int
				done := make(chan pipeline.ExitStatus, 1)
				go func() {
					done <- pipeline.New(src).
						Via(stage.ParMap(c.workers, stage.Func(h), stage.Ordered(), stage.Window(c.window), stage.Buffer(c.buffer))).
						Sink(sink.Collect(&got)).
						Run(context.Background())
				}()

				// As far as the source gets while item 0 is held, however
				// long it is given.
				settle()
				// The first chunk is item 0 alone (a Sizer starts at 1), so
				// nothing passes the emitter, and every item put in the
				// queue holds a place in the window until it does: at most
				// window items. A chunk takes its places when the intake
				// (or a waiting worker) puts it in the queue, so the chunk
				// being filled is outside the window: at most chunk items,
				// the last of which is the one Push is blocked on. The
				// source counts an item before yielding it, but yields only
				// once the Push before has returned: the item "in its hand"
				// is that last one, not one more.
				got0 := emitted.Load()
				assert.LessOrEqual(t, got0, int64(c.window+chunk), "items emitted while item 0 is held")
				// And it did run ahead until the window was full, or the
				// bound above says little: the window holds more than
				// window-chunk items before a chunk must wait.
				assert.Greater(t, got0, int64(c.window-chunk), "the source runs ahead until the window is full")

				close(release)
				st := <-done
				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, ints(n), got, "after the release everything comes out, in order")
				assert.EqualValues(t, n, emitted.Load())
			})
		})
	}
}

func TestParMapResultsAreExact(t *testing.T) {
	// Items divisible by 5 fail and are skipped; the handler doubles the
	// others; a Filter after ParMap leaves out the results divisible by 3.
	const n = 1_000
	var want []int
	var skipped, dropped int64
	for v := range n {
		switch {
		case v%5 == 0:
			skipped++
		case (2*v)%3 == 0:
			dropped++
		default:
			want = append(want, 2*v)
		}
	}
	h := func(_ context.Context, v int) (int, error) {
		if v%5 == 0 {
			return 0, errBoom
		}
		if v%97 == 0 {
			time.Sleep(200 * time.Microsecond) // a few slow items, so results overtake each other
		}
		return 2 * v, nil
	}
	keep := func(_ context.Context, v int) (bool, error) { return v%3 != 0, nil }
	for _, workers := range []int{1, 2, 3, 8} {
		for _, buffer := range []int{1, 7, 100} {
			for _, ord := range orderings {
				t.Run(fmt.Sprintf("with %d workers, buffer %d, %s", workers, buffer, ord.name), func(t *testing.T) {
					t.Parallel()
					var got []int
					st := run(t, pipeline.New(source.Slice(ints(n))).
						Via(stage.ParMap(workers, stage.Func(h), ord.opts(stage.Buffer(buffer), stage.OnError(stage.Skip()))...)).
						Via(stage.Filter(keep)).
						Sink(sink.Collect(&got)))

					require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					c := st.Counts
					assert.EqualValues(t, n, c.In)
					assert.Equal(t, skipped, c.Skipped)
					assert.Equal(t, dropped, c.Dropped)
					assert.EqualValues(t, len(want), c.Done)
					assert.Equal(t, c.In, c.Done+c.Skipped+c.Dropped, "every item is accounted for once")
					assert.Zero(t, c.Abandoned)
					if ord.ordered {
						assert.Equal(t, want, got)
					} else {
						assert.Equal(t, want, slices.Sorted(slices.Values(got)))
					}
				})
			}
		}
	}
}
