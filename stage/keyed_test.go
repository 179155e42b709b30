package stage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stage/stagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyedEvent is an item of the KeyBy tests: the seq-th item of its key,
// counting from 1.
type keyedEvent struct{ key, seq int }

func eventKey(e keyedEvent) int { return e.key }

// keyedEvents returns n events over keys keys, in a shuffled but fixed
// order of keys, each key's events numbered 1, 2, ... in input order.
func keyedEvents(n, keys int) []keyedEvent {
	rng := rand.New(rand.NewPCG(7, 37))
	next := make([]int, keys)
	es := make([]keyedEvent, n)
	for i := range es {
		k := rng.IntN(keys)
		next[k]++
		es[i] = keyedEvent{key: k, seq: next[k]}
	}
	return es
}

// keyedWorkerCounts are the worker counts the KeyBy tests run at.
var keyedWorkerCounts = []int{1, 2, 4, 8}

// unevenEvent passes e on, after a pause for some events, so that workers
// finish their items out of input order.
func unevenEvent(_ context.Context, e keyedEvent) (keyedEvent, error) {
	switch {
	case e.seq%41 == 0:
		time.Sleep(50 * time.Microsecond)
	case e.seq%5 == 0:
		runtime.Gosched()
	}
	return e, nil
}

// keyOrder is a sink that checks that each key's events arrive in order,
// each once: the seq-th event of a key comes right after the (seq-1)-th.
// Its state is plain on purpose: a sink called concurrently would be
// reported by the race detector.
type keyOrder struct {
	last map[int]int
	bad  []string
	n    int
}

func (o *keyOrder) sink() *sink.Of[keyedEvent] {
	o.last = map[int]int{}
	return sink.Func(func(_ context.Context, e keyedEvent) error {
		o.n++
		if e.seq != o.last[e.key]+1 && len(o.bad) < 10 {
			o.bad = append(o.bad, fmt.Sprintf("key %d: event %d after %d", e.key, e.seq, o.last[e.key]))
		}
		o.last[e.key] = max(o.last[e.key], e.seq)
		return nil
	})
}

// check asserts that every event of es came out, once, in its key's order.
func (o *keyOrder) check(t *testing.T, es []keyedEvent) {
	t.Helper()
	want := map[int]int{}
	for _, e := range es {
		want[e.key] = max(want[e.key], e.seq)
	}
	assert.Empty(t, o.bad, "events out of their key's order, or repeated")
	assert.Equal(t, want, o.last, "each key's last event")
	assert.Equal(t, len(es), o.n, "events in all")
}

func TestKeyByKeepsEachKeysOrder(t *testing.T) {
	const n, keys = 5000, 37
	es := keyedEvents(n, keys)
	for _, workers := range keyedWorkerCounts {
		for _, f := range feeds {
			t.Run(fmt.Sprintf("with %d workers %s", workers, f.name), func(t *testing.T) {
				t.Parallel()
				var o keyOrder
				st := run(t, pipeline.New(sourceOf(f, es)).
					Via(stage.KeyBy(workers, eventKey, stage.Func(unevenEvent))).
					Sink(o.sink()))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: n, Done: n}, st.Counts)
				o.check(t, es)
			})
		}
	}

	t.Run("a small buffer and a stage after it change nothing", func(t *testing.T) {
		var o keyOrder
		st := run(t, pipeline.New(source.Slice(es)).
			Via(stage.KeyBy(3, eventKey, stage.Func(unevenEvent), stage.Buffer(1))).
			Via(stage.Filter(func(context.Context, keyedEvent) (bool, error) { return true, nil })).
			Sink(o.sink()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		o.check(t, es)
	})

	t.Run("an unmetered run changes nothing", func(t *testing.T) {
		var o keyOrder
		st := run(t, pipeline.New(source.Slice(es), pipeline.WithoutMetrics()).
			Via(stage.KeyBy(4, eventKey, stage.Func(unevenEvent))).
			Sink(o.sink()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, pipeline.Counts{In: n, Done: n}, st.Counts)
		assert.Empty(t, st.Report.Stages)
		o.check(t, es)
	})

	t.Run("two KeyBys in a row keep the order of the keys of the second", func(t *testing.T) {
		var o keyOrder
		st := run(t, pipeline.New(source.Slice(es)).
			Via(stage.KeyBy(4, eventKey, stage.Func(unevenEvent))).
			Via(stage.KeyBy(3, eventKey, stage.Func(unevenEvent), stage.Name("again"))).
			Sink(o.sink()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		o.check(t, es)
	})
}

func TestKeyByHoldsNoItemBehindALaterOne(t *testing.T) {
	// Items from 10 on wait until items 0 to 9 are handled. Queues of one
	// item fill at once, and the workers of later items block on them: the
	// items before them must still reach their workers, whichever those
	// are, or the run never ends.
	for _, workers := range []int{2, 4} {
		for _, f := range feeds {
			t.Run(fmt.Sprintf("with %d workers %s", workers, f.name), func(t *testing.T) {
				const first = 10
				var handled atomic.Int32
				released := make(chan struct{})
				h := func(ctx context.Context, v int) (int, error) {
					if v >= first {
						select {
						case <-released:
						case <-ctx.Done():
							return 0, ctx.Err()
						}
					} else if handled.Add(1) == first {
						close(released)
					}
					return v, nil
				}
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(200))).
					Via(stage.KeyBy(workers, func(v int) int { return v }, stage.Func(h), stage.Buffer(workers))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, ints(200), slices.Sorted(slices.Values(got)))
			})
		}
	}
}

func TestKeyByTrickleIsNotHeldBack(t *testing.T) {
	// A burst of cheap items first, so that the workers wait for many
	// items at a time; then a source that emits its next item only once
	// the sink has the one before, as a request/response loop does. An item
	// that waited in a queue for more would never reach the sink.
	const burst, trickle = 5_000, 20
	const stuck = 10 * time.Second
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("with %d workers each item reaches the sink before the next is emitted", workers), func(t *testing.T) {
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
				Via(stage.KeyBy(workers, mod7, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }))).
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

func TestKeyByStageValue(t *testing.T) {
	t.Run("it describes itself", func(t *testing.T) {
		s := stage.KeyBy(3, func(s string) int { return len(s) }, stage.Func(length))
		assert.Equal(t, "keyby", s.Name())
		assert.Equal(t, reflect.TypeFor[string](), s.In())
		assert.Equal(t, reflect.TypeFor[int](), s.Out())
		assert.NoError(t, s.Err())
		assert.Equal(t, "users", stage.KeyBy(3, func(s string) int { return len(s) }, stage.Func(length), stage.Name("users")).Name())
	})

	t.Run("one value runs in several pipelines at once", func(t *testing.T) {
		// The runs share the stage value's free lists of batches, and
		// nothing else: the race detector checks it.
		const runs = 6
		es := keyedEvents(3000, 23)
		kb := stage.KeyBy(4, eventKey, stage.Func(unevenEvent), stage.Buffer(16))
		orders := make([]keyOrder, runs)
		codes := make([]int, runs)
		var wg sync.WaitGroup
		for i := range runs {
			snk := orders[i].sink()
			wg.Go(func() {
				codes[i] = run(t, pipeline.New(source.Slice(es)).Via(kb).Sink(snk)).Code
			})
		}
		wg.Wait()
		for i := range runs {
			require.Equal(t, pipeline.CodeSuccess, codes[i], "run %d", i)
			orders[i].check(t, es)
		}
	})

	t.Run("inside a Chain a failure names the inner stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(50))).
			Via(stage.Chain(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil }),
				stage.KeyBy(2, mod7, stage.Func(failOn(func(v int) bool { return v == 20 })), stage.Name("inner")))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Contains(t, st.Stage, "inner")
		assert.Equal(t, "#20", st.Target)
	})
}

// partitions is a PerWorker Proc whose handlers record which workers saw
// each key. Each handler also keeps, in a plain map of its own, the last
// event of each of its keys, and checks that the next follows it: state
// per key that needs no lock because one worker has the key.
type partitions struct {
	mu      sync.Mutex
	workers map[int]map[int]bool // key -> IDs of the workers that saw it
	inits   []int
	closes  map[int]int
	bad     []string
}

func (p *partitions) proc() stage.Proc[keyedEvent, keyedEvent] {
	p.workers = map[int]map[int]bool{}
	p.closes = map[int]int{}
	return stage.PerWorker(p.perWorker)
}

func (p *partitions) perWorker(_ context.Context, w stage.Worker) (stage.Handler[keyedEvent, keyedEvent], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inits = append(p.inits, w.ID)
	return &partition{id: w.ID, p: p, last: map[int]int{}}, nil
}

type partition struct {
	id   int
	p    *partitions
	last map[int]int // key -> the last event handled
}

func (h *partition) Handle(ctx context.Context, e keyedEvent) (keyedEvent, error) {
	if e.seq != h.last[e.key]+1 {
		h.p.mu.Lock()
		h.p.bad = append(h.p.bad, fmt.Sprintf("worker %d, key %d: event %d after %d", h.id, e.key, e.seq, h.last[e.key]))
		h.p.mu.Unlock()
	}
	h.last[e.key] = e.seq
	return unevenEvent(ctx, e)
}

func (h *partition) Close() error {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	h.p.closes[h.id]++
	for k := range h.last {
		if h.p.workers[k] == nil {
			h.p.workers[k] = map[int]bool{}
		}
		h.p.workers[k][h.id] = true
	}
	return nil
}

// owners returns the worker of each key; a key seen by several workers
// fails t.
func (p *partitions) owners(t *testing.T) map[int]int {
	t.Helper()
	own := map[int]int{}
	for k, ids := range p.workers {
		if !assert.Len(t, ids, 1, "the workers that saw key %d", k) {
			continue
		}
		for id := range ids {
			own[k] = id
		}
	}
	return own
}

func TestKeyBySendsAKeyToOneWorker(t *testing.T) {
	const n, keys = 3000, 37
	es := keyedEvents(n, keys)
	for _, workers := range keyedWorkerCounts {
		for _, f := range feeds {
			t.Run(fmt.Sprintf("with %d workers %s", workers, f.name), func(t *testing.T) {
				t.Parallel()
				var p partitions
				var o keyOrder
				st := run(t, pipeline.New(sourceOf(f, es)).
					Via(stage.KeyBy(workers, eventKey, p.proc())).
					Sink(o.sink()))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				o.check(t, es)
				assert.Empty(t, p.bad, "each worker sees its keys' events in order")
				assert.Equal(t, ints(workers + 1)[1:], slices.Sorted(slices.Values(p.inits)), "init once per worker, IDs 1..n")
				for id := 1; id <= workers; id++ {
					assert.Equal(t, 1, p.closes[id], "Close calls of worker %d", id)
				}
				own := p.owners(t)
				assert.Len(t, own, keys)
				if workers > 1 {
					used := map[int]bool{}
					for _, id := range own {
						used[id] = true
					}
					assert.Greater(t, len(used), 1, "37 keys spread over more than one of %d workers", workers)
				}
			})
		}
	}

	t.Run("a stage value sends a key to the same worker in every run", func(t *testing.T) {
		// Two runs of one stage value, each recording into partitions of
		// its own.
		var runs [2]partitions
		var cur atomic.Pointer[partitions]
		kb := stage.KeyBy(8, eventKey, stage.PerWorker(func(ctx context.Context, w stage.Worker) (stage.Handler[keyedEvent, keyedEvent], error) {
			h, err := cur.Load().perWorker(ctx, w)
			return h, err
		}))
		for i := range runs {
			runs[i].proc() // resets its maps
			cur.Store(&runs[i])
			st := run(t, pipeline.New(source.Slice(es)).Via(kb).Sink(sink.Discard[keyedEvent]()))
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		}
		assert.Equal(t, runs[0].owners(t), runs[1].owners(t))
	})
}

// mod7 is the key of the tests on ints: seven keys.
func mod7(v int) int { return v % 7 }

func TestKeyByPolicies(t *testing.T) {
	const n = 300
	bad := multipleOf(10)
	fails := int64(len(ints(n)) - len(without(ints(n), bad)))
	require.EqualValues(t, 30, fails) // a check on the check
	for _, workers := range []int{1, 4} {
		for _, f := range feeds {
			name := fmt.Sprintf("with %d workers %s", workers, f.name)

			t.Run(name+": Skip drops the failed items and counts them", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(n)), pipeline.OnError(stage.Skip())).
					Via(stage.KeyBy(workers, mod7, stage.Func(failOn(bad)))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: n, Done: n - fails, Skipped: fails}, st.Counts)
				assert.Equal(t, without(ints(n), bad), slices.Sorted(slices.Values(got)))
			})

			t.Run(name+": DeadLetter hands on the failed items and counts them", func(t *testing.T) {
				var got, dead []int
				var labels []string
				dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
					assert.Equal(t, "keyed", d.Stage)
					assert.ErrorIs(t, d.Err, errBoom)
					dead = append(dead, d.Item.(int))
					labels = append(labels, d.Label)
					return nil
				})
				st := run(t, pipeline.New(sourceOf(f, ints(n))).
					Via(stage.KeyBy(workers, mod7, stage.Func(failOn(bad)), stage.Name("keyed"), stage.OnError(dl), stage.Label(label))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: n, Done: n - fails, DeadLettered: fails}, st.Counts)
				assert.Equal(t, without(ints(n), bad), slices.Sorted(slices.Values(got)))
				want := without(ints(n), func(v int) bool { return !bad(v) })
				assert.Equal(t, want, slices.Sorted(slices.Values(dead)))
				assert.Contains(t, labels, "item 120")
			})

			t.Run(name+": Retry calls the handler again, and the key's order holds", func(t *testing.T) {
				es := keyedEvents(n, 11)
				tries := make(attempts, n)
				var o keyOrder
				idx := map[keyedEvent]int{}
				for i, e := range es {
					idx[e] = i
				}
				h := func(ctx context.Context, e keyedEvent) (keyedEvent, error) {
					if i := idx[e]; bad(i) && tries.add(i) == 1 {
						return e, errBoom
					}
					return e, nil
				}
				st := run(t, pipeline.New(sourceOf(f, es)).
					Via(stage.KeyBy(workers, eventKey, stage.Func(h), stage.OnError(stage.Retry(3, tiny, tiny)))).
					Sink(o.sink()))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: n, Done: n, Retried: fails}, st.Counts)
				o.check(t, es)
			})

			t.Run(name+": FailFast names the stage and the item and stops the source", func(t *testing.T) {
				const total = 1_000_000
				var produced atomic.Int64
				src := source.Func(func(_ context.Context, yield func(int) bool) error {
					for i := range total {
						produced.Add(1)
						if !yield(i) {
							return nil
						}
					}
					return nil
				})
				if f.push() {
					src = source.Seq(func(yield func(int) bool) {
						for i := range total {
							produced.Add(1)
							if !yield(i) {
								return
							}
						}
					})
				}
				st := run(t, pipeline.New(src).
					Via(stage.KeyBy(workers, mod7, stage.Func(failOn(func(v int) bool { return v == 13 })), stage.Label(label))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "keyby", st.Stage)
				assert.Equal(t, "item 13", st.Target)
				assert.EqualValues(t, 1, st.Counts.Failed)
				assert.Zero(t, st.Counts.Skipped+st.Counts.DeadLettered+st.Counts.Dropped)
				assert.Equal(t, st.Counts.In, st.Counts.Done+st.Counts.Failed+st.Counts.Abandoned, "%+v", st.Counts)
				assert.Less(t, produced.Load(), int64(total), "the source stops early")
			})

			t.Run(name+": a panicking handler is a PanicError naming the item", func(t *testing.T) {
				st := run(t, pipeline.New(sourceOf(f, ints(20))).
					Via(stage.KeyBy(workers, mod7, stage.Func(mapPanicsOnThree))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.Equal(t, "keyby", st.Stage)
				assert.Equal(t, "#3", st.Target)
				assert.EqualValues(t, 1, st.Counts.Failed)
				requirePanic(t, st.Err, "three is not allowed", "mapPanicsOnThree")
			})

			t.Run(name+": a panicking key fails its item under the policy", func(t *testing.T) {
				st := run(t, pipeline.New(sourceOf(f, ints(20))).
					Via(stage.KeyBy(workers, keyPanicsOnTwo, stage.Func(failOn(func(int) bool { return false })))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.Equal(t, "keyby", st.Stage)
				assert.Equal(t, "#2", st.Target)
				assert.EqualValues(t, 1, st.Counts.Failed)
				requirePanic(t, st.Err, "two", "keyPanicsOnTwo")

				var got []int
				st = run(t, pipeline.New(sourceOf(f, ints(20))).
					Via(stage.KeyBy(workers, keyPanicsOnTwo, stage.Func(failOn(func(int) bool { return false })),
						stage.OnError(stage.Retry(2, tiny, tiny).Then(stage.Skip())))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: 20, Done: 19, Skipped: 1, Retried: 1}, st.Counts)
				assert.Equal(t, without(ints(20), func(v int) bool { return v == 2 }), slices.Sorted(slices.Values(got)))
			})

			t.Run(name+": tags travel with the items, and the counts are in source items", func(t *testing.T) {
				// A FlatMap's children share their parent's tag, which takes
				// their worst outcome; a batch's tag stands for its members.
				lines := []string{"a b c", "a skip", "skip skip", "", "d e"}
				skip := stage.Func(func(_ context.Context, w string) (string, error) {
					if w == "skip" {
						return "", errBoom
					}
					return w, nil
				})
				var got [][]string
				st := run(t, pipeline.New(sourceOf(f, lines)).
					Via(stage.FlatMap(fields)).
					Via(stage.KeyBy(workers, func(w string) string { return w }, skip, stage.OnError(stage.Skip()))).
					Via(stage.Batch[string](2)).
					Via(stage.KeyBy(workers, func(b []string) int { return len(b) }, stage.Func(func(_ context.Context, b []string) ([]string, error) { return b, nil }))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: 5, Done: 2, Skipped: 2, Dropped: 1}, st.Counts)
				words := slices.Concat(got...)
				slices.Sort(words)
				assert.Equal(t, []string{"a", "a", "b", "c", "d", "e"}, words)
			})

			t.Run(name+": a failure does not close the stages after it", func(t *testing.T) {
				// A Batch flushes its partial batch when it is closed: after
				// a failure it must not be, and the sink gets nothing.
				var got [][]int
				st := run(t, pipeline.New(sourceOf(f, ints(100))).
					Via(stage.KeyBy(workers, mod7, stage.Func(failOn(func(v int) bool { return v == 50 })))).
					Via(stage.Batch[int](1000)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Empty(t, got)
			})
		}
	}
}

func TestKeyByPerWorker(t *testing.T) {
	const n = 100
	for _, workers := range keyedWorkerCounts {
		t.Run(fmt.Sprintf("with %d workers each worker builds and closes its own handler", workers), func(t *testing.T) {
			l := &lifecycle{}
			var got []int
			st := run(t, pipeline.New(source.Slice(items1(n))).
				Via(stage.KeyBy(workers, mod7, l.proc(), stage.Name("work"))).
				Sink(sink.Collect(&got)))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Len(t, got, n)
			assert.Equal(t, ints(workers + 1)[1:], slices.Sorted(slices.Values(l.inits)), "init once per worker, IDs 1..n")
			handled := 0
			for id := 1; id <= workers; id++ {
				assert.Equal(t, 1, l.closes[id], "Close calls of worker %d", id)
				assert.Equal(t, "work.worker-"+strconv.Itoa(id), l.loggerNames[id], "logger of worker %d", id)
				handled += l.handled[id]
			}
			assert.Equal(t, n, handled, "every item went through exactly one worker's handler")
		})

		t.Run(fmt.Sprintf("with %d workers every handler is closed when an item fails", workers), func(t *testing.T) {
			l := &lifecycle{failItem: 13}
			st := run(t, pipeline.New(source.Slice(items1(n))).
				Via(stage.KeyBy(workers, mod7, l.proc())).
				Sink(sink.Discard[int]()))

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, errBoom)
			assert.Equal(t, "#12", st.Target)
			assert.NotEmpty(t, l.built)
			assert.Equal(t, l.built, l.closes, "each built handler is closed once")
		})

		t.Run(fmt.Sprintf("with %d workers an init error names the worker", workers), func(t *testing.T) {
			l := &lifecycle{failInit: workers}
			st := run(t, pipeline.New(source.Slice(items1(n))).
				Via(stage.KeyBy(workers, mod7, l.proc())).
				Sink(sink.Discard[int]()))

			want := "worker-" + strconv.Itoa(workers)
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, errInit)
			assert.Equal(t, "keyby", st.Stage)
			assert.Equal(t, want, st.Target)
			assert.Equal(t, l.built, l.closes, "handlers built by the other workers are still closed")
			assert.NotContains(t, l.closes, workers, "the worker whose init failed has no handler to close")
		})
	}

	t.Run("a panicking init is a PanicError naming the worker", func(t *testing.T) {
		l := &lifecycle{panicInit: 2}
		st := run(t, pipeline.New(source.Slice(items1(n))).
			Via(stage.KeyBy(3, mod7, l.proc())).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "worker-2", st.Target)
		requirePanic(t, st.Err, "init exploded", "proc")
		assert.Equal(t, l.built, l.closes)
	})

	t.Run("an init that returns a nil handler fails the run", func(t *testing.T) {
		l := &lifecycle{nilHandler: 1}
		st := run(t, pipeline.New(source.Slice(items1(n))).
			Via(stage.KeyBy(2, mod7, l.proc())).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "worker-1", st.Target)
		assert.Contains(t, st.Message, "nil handler")
	})

	t.Run("a Close error is reported", func(t *testing.T) {
		l := &lifecycle{failClose: 2}
		st := run(t, pipeline.New(source.Slice(items1(n))).
			Via(stage.KeyBy(4, mod7, l.proc())).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errClose)
		assert.Equal(t, "worker-2", st.Target)
		assert.Equal(t, l.built, l.closes)
	})
}

func TestKeyByCancellation(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("with %d workers cancelling stops busy workers", workers), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a regression fails, not hangs
			defer cancel()
			// Items from 5 on wait for the cancellation, which item 5 makes.
			h := func(ctx context.Context, v int) (int, error) {
				switch {
				case v < 5:
					return v, nil
				case v == 5:
					cancel()
				}
				<-ctx.Done()
				return 0, ctx.Err()
			}
			l := &lifecycle{}
			// Items from 1: lifecycle fails item 0.
			st := pipeline.New(source.Slice(items1(1000))).
				Via(stage.KeyBy(workers, mod7, stage.Func(h))).
				Via(stage.KeyBy(workers, mod7, l.proc(), stage.Name("own"))).
				Sink(sink.Discard[int]()).
				Run(ctx)

			assert.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Zero(t, st.Counts.Failed, "abandoned items are not failures")
			assert.Equal(t, st.Counts.In, st.Counts.Done+st.Counts.Abandoned, "%+v", st.Counts)
			assert.Equal(t, l.built, l.closes, "each built handler is closed")
		})

		t.Run(fmt.Sprintf("with %d workers cancelling stops a stage held by its sink", workers), func(t *testing.T) {
			// An endless source, and a sink that cancels the run after 50
			// items and waits: the workers wait for room for their
			// results, the source for room in the queues.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a regression fails, not hangs
			defer cancel()
			src := source.Func(func(ctx context.Context, yield func(int) bool) error {
				for i := 0; ; i++ {
					if !yield(i) {
						return nil
					}
				}
			})
			taken := 0
			st := pipeline.New(src).
				Via(stage.KeyBy(workers, mod7, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }), stage.Buffer(8))).
				Sink(sink.Func(func(ctx context.Context, _ int) error {
					if taken++; taken == 50 {
						cancel()
						<-ctx.Done()
						return ctx.Err()
					}
					return nil
				})).
				Run(ctx)

			assert.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Zero(t, st.Counts.Failed)
		})
	}

	t.Run("a drain lets what was emitted through, in each key's order", func(t *testing.T) {
		es := keyedEvents(100_000, 13)
		stop := make(chan os.Signal, 2)
		var o keyOrder
		snk := o.sink()
		taken := 0
		st := run(t, pipeline.New(source.Slice(es), pipeline.WithStopChannel(stop)).
			Via(stage.KeyBy(4, eventKey, stage.Func(unevenEvent), stage.Buffer(8))).
			Via(stage.Tap(func(context.Context, keyedEvent) error {
				if taken++; taken == 500 {
					stop <- syscall.SIGINT
				}
				return nil
			})).
			Sink(snk))

		assert.Equal(t, 130, st.Code, st.Message)
		assert.Less(t, st.Counts.In, int64(len(es)), "the source stopped")
		assert.Equal(t, st.Counts.In, st.Counts.Done, "every item already emitted finished")
		assert.EqualValues(t, o.n, st.Counts.Done)
		assert.Empty(t, o.bad)
	})
}

func TestKeyByHoldsTheSourceBack(t *testing.T) {
	// A sink that waits until the source has filled the stage, then takes
	// items slowly: at each item it takes, what has gone into KeyBy beyond
	// what the sink took must fit in what KeyBy may hold. With workers
	// dividing Buffer, that is Buffer items in the queues, as many in the
	// workers' hands, Buffer in the results queue (which counts what the
	// emitter is passing on), and what is being pushed into KeyBy: an item,
	// or a slice source's run of 64.
	const buffer, n = 16, 600
	for _, workers := range []int{1, 2, 4, 8} {
		for _, f := range feeds {
			t.Run(fmt.Sprintf("with %d workers %s", workers, f.name), func(t *testing.T) {
				t.Parallel()
				pushing := int64(1)
				if f.push() {
					pushing = 64
				}
				var in atomic.Int64 // items counted on their way into KeyBy
				filled := make(chan struct{})
				count := stage.Tap(func(context.Context, int) error {
					if in.Add(1) == buffer {
						close(filled)
					}
					return nil
				})
				var taken, most int64
				snk := sink.Func(func(ctx context.Context, _ int) error {
					if taken == 0 {
						select {
						case <-filled:
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					taken++
					most = max(most, in.Load()-taken)
					time.Sleep(10 * time.Microsecond) // slower than the source
					return nil
				})
				st := run(t, pipeline.New(sourceOf(f, ints(n))).
					Via(count).
					Via(stage.KeyBy(workers, mod7, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }), stage.Buffer(buffer))).
					Sink(snk))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, n, taken)
				assert.LessOrEqual(t, most, 3*buffer+pushing, "items gone into KeyBy beyond what the sink took")
				assert.GreaterOrEqual(t, most, int64(buffer-1), "the stage filled up before the sink took its first item")
			})
		}
	}
}

func TestKeyByInvalid(t *testing.T) {
	cases := []struct {
		name   string
		stage  stage.Stage
		reason string
	}{
		{"zero workers is invalid", stage.KeyBy(0, mod7, stage.Func(skewed), stage.Name("users")), "workers must be >= 1"},
		{"negative workers is invalid", stage.KeyBy(-3, mod7, stage.Func(skewed), stage.Name("users")), "workers must be >= 1"},
		{"a nil key is invalid", stage.KeyBy[int, int, int](4, nil, stage.Func(skewed), stage.Name("users")), "nil key function"},
		{"a zero Proc is invalid", stage.KeyBy(4, mod7, stage.Proc[int, int]{}, stage.Name("users")), "nil handler"},
		{"a Func of nil is invalid", stage.KeyBy(4, mod7, stage.Func[int, int](nil), stage.Name("users")), "nil handler"},
		{"a zero buffer is invalid", stage.KeyBy(4, mod7, stage.Func(skewed), stage.Name("users"), stage.Buffer(0)), "buffer"},
		{"a label for another type is invalid", stage.KeyBy(4, mod7, stage.Func(skewed), stage.Name("users"), stage.Label(func(string) string { return "" })), "label function"},
		{"an invalid policy is invalid", stage.KeyBy(4, mod7, stage.Func(skewed), stage.Name("users"), stage.OnError(stage.Retry(0, 0, 0))), "retry attempts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ran atomic.Bool
			src := source.Func(func(_ context.Context, yield func(int) bool) error {
				ran.Store(true)
				yield(1)
				return nil
			})
			st := run(t, pipeline.New(src).Via(c.stage).Sink(sink.Discard[int]()))

			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
			assert.Contains(t, st.Message, `"users"`, "the message names the stage")
			assert.Contains(t, st.Message, c.reason)
			assert.False(t, ran.Load(), "nothing runs in an invalid pipeline")
		})
	}

	t.Run("without a name the message says keyby", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(stage.KeyBy(0, mod7, stage.Func(skewed))).Sink(sink.Discard[int]()))
		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "keyby")
		assert.Error(t, stage.KeyBy(0, mod7, stage.Func(skewed)).Err(), "the stage reports itself before any pipeline")
		assert.NoError(t, stage.KeyBy(1, mod7, stage.Func(skewed)).Err())
	})
}

func TestKeyByReport(t *testing.T) {
	const n = 1000
	fives := int64(n / 5)
	for _, workers := range keyedWorkerCounts {
		t.Run(fmt.Sprintf("with %d workers", workers), func(t *testing.T) {
			var dead atomic.Int64
			dl := stage.DeadLetter(func(context.Context, stage.DeadLetterItem) error {
				dead.Add(1)
				return nil
			})
			st := run(t, pipeline.New(source.Slice(ints(n))).
				Via(stage.KeyBy(workers, mod7, stage.Func(failOn(multipleOf(5))),
					stage.Name("keyed"), stage.OnError(stage.Retry(3, 0, 0).Then(dl)))).
				Sink(sink.Discard[int]()))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, pipeline.Counts{In: n, Done: n - fives, DeadLettered: fives, Retried: 2 * fives}, st.Counts)
			require.Len(t, st.Report.Stages, 3)
			s := st.Report.Stages[1]
			assert.Equal(t, "keyed", s.Name)
			assert.Equal(t, workers, s.Workers)
			assert.EqualValues(t, n, s.In)
			assert.Equal(t, n-fives, s.Out)
			assert.Equal(t, fives, s.Errors)
			assert.Equal(t, fives, s.Skipped)
			assert.Equal(t, 2*fives, s.Retries)
			assert.NotNil(t, s.Queue, "a concurrent stage has queues")
			// The workers account for all of their time: their shares
			// add up by construction, whatever the machine does.
			require.Positive(t, s.Wall)
			assert.InDelta(t, 1.0, s.Busy+s.Idle+s.Backpressured, 0.01, "%+v", s)
			assert.Equal(t, n-fives, st.Report.Stages[2].In)
		})
	}
}

// runningTotal is the handler of ExampleKeyBy: the total paid so far by
// each of its worker's accounts.
type runningTotal struct{ sums map[string]int }

type payment struct {
	account string
	amount  int
}

func (r *runningTotal) Handle(_ context.Context, p payment) (string, error) {
	r.sums[p.account] += p.amount
	return fmt.Sprintf("%s:%d", p.account, r.sums[p.account]), nil
}

// KeyBy sends every item of a key to the same worker, in order, so a
// PerWorker handler can keep per-key state without a lock: here, a running
// total per account. Results of different keys come out in no particular
// order.
func ExampleKeyBy() {
	totals := stage.PerWorker(func(context.Context, stage.Worker) (stage.Handler[payment, string], error) {
		return &runningTotal{sums: map[string]int{}}, nil // one map per worker
	})
	var got []string
	st := pipeline.New(source.Slice([]payment{
		{"ann", 10}, {"bob", 5}, {"ann", 7}, {"cid", 1}, {"bob", 5}, {"ann", 3},
	})).
		Via(stage.KeyBy(3, func(p payment) string { return p.account }, totals)).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	sort.Strings(got) // each account's totals come in order; accounts interleave
	fmt.Println(got, st.Counts.Done)
	// Output: [ann:10 ann:17 ann:20 bob:10 bob:5 cid:1] 6
}

func BenchmarkKeyBy(b *testing.B) {
	double := stage.Func(func(_ context.Context, v int) (int, error) { return 2 * v, nil })
	items := ints(100_000)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("keyby/workers=%d", workers), func(b *testing.B) {
			stagetest.Benchmark(b, stage.KeyBy(workers, func(v int) int { return v % 1000 }, double), items)
		})
		b.Run(fmt.Sprintf("parmap/workers=%d", workers), func(b *testing.B) {
			stagetest.Benchmark(b, stage.ParMap(workers, double), items)
		})
	}
}

// BenchmarkKeyByPushed is BenchmarkKeyBy with a source that pushes its items
// one at a time: each crosses to its worker alone.
func BenchmarkKeyByPushed(b *testing.B) {
	double := stage.Func(func(_ context.Context, v int) (int, error) { return 2 * v, nil })
	const n = 20_000
	gen := source.Func(func(_ context.Context, yield func(int) bool) error {
		for i := range n {
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
	for _, workers := range []int{1, 2, 4} {
		for _, s := range []struct {
			name  string
			stage stage.Stage
		}{
			{"keyby", stage.KeyBy(workers, func(v int) int { return v % 1000 }, double)},
			{"parmap", stage.ParMap(workers, double)},
		} {
			b.Run(fmt.Sprintf("%s/workers=%d", s.name, workers), func(b *testing.B) {
				p := pipeline.New(gen).Via(s.stage).Sink(sink.Discard[int]())
				for b.Loop() {
					if st := p.Run(b.Context()); !st.OK() {
						b.Fatal(st)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
			})
		}
	}
}
