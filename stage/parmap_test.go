package stage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// skewed multiplies by 10, and makes item times very uneven: every 7th item
// is slow and every 3rd a little slow, so workers finish out of input order.
// The sleeps are short: the whole table stays well under a second.
func skewed(_ context.Context, v int) (int, error) {
	switch {
	case v%7 == 0:
		time.Sleep(2 * time.Millisecond)
	case v%3 == 0:
		time.Sleep(50 * time.Microsecond)
	}
	return v * 10, nil
}

func TestParMapEmitsEveryItemExactlyOnce(t *testing.T) {
	const n = 150
	want := make([]int, n)
	for i := range want {
		want[i] = i * 10
	}
	for _, workers := range workerCounts {
		for _, ord := range orderings {
			t.Run(fmt.Sprintf("with %d workers %s every item comes out once", workers, ord.name), func(t *testing.T) {
				t.Parallel()
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(stage.ParMap(workers, stage.Func(skewed), ord.opts()...)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, n, st.Counts.In)
				assert.EqualValues(t, n, st.Counts.Done)
				if ord.ordered {
					assert.Equal(t, want, got, "ordered output must be the input order")
				} else {
					// Sorting keeps duplicates, so this compares multisets:
					// nothing lost, nothing doubled.
					assert.Equal(t, want, slices.Sorted(slices.Values(got)))
				}
			})
		}
	}
}

func TestParMapOrderedKeepsInputOrderWhenEarlyItemsAreSlowest(t *testing.T) {
	const n, slow = 60, 20
	// Item i < slow sleeps (slow-i) steps: the earlier the item, the later it
	// finishes, which is the worst case for the reorder buffer.
	h := func(_ context.Context, v int) (string, error) {
		if v < slow {
			time.Sleep(time.Duration(slow-v) * 100 * time.Microsecond)
		}
		return strconv.Itoa(v), nil
	}
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	for _, workers := range workerCounts {
		t.Run(fmt.Sprintf("with %d workers the output is the input order", workers), func(t *testing.T) {
			t.Parallel()
			var got []string
			st := run(t, pipeline.New(source.Slice(ints(n))).
				Via(stage.ParMap(workers, stage.Func(h), stage.Ordered())).
				Sink(sink.Collect(&got)))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, want, got)
		})
	}
}

func TestParMapHeadItemThatFinishesLast(t *testing.T) {
	// Item 0 does not return until every other item has been handled, so
	// its result is certainly the last one ready. Ordered mode must still
	// emit it first; unordered mode must still emit it. One worker would
	// wait for itself, so this starts at two.
	const n = 40
	for _, workers := range []int{2, 8, 64} {
		for _, ord := range orderings {
			t.Run(fmt.Sprintf("with %d workers %s nothing is lost", workers, ord.name), func(t *testing.T) {
				t.Parallel()
				var handled atomic.Int32
				othersDone := make(chan struct{})
				h := func(ctx context.Context, v int) (int, error) {
					if v == 0 {
						select {
						case <-othersDone:
							return v, nil
						case <-ctx.Done():
							return 0, ctx.Err()
						}
					}
					if handled.Add(1) == n-1 {
						close(othersDone)
					}
					return v, nil
				}
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(stage.ParMap(workers, stage.Func(h), ord.opts()...)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				if ord.ordered {
					assert.Equal(t, ints(n), got)
				} else {
					assert.ElementsMatch(t, ints(n), got)
				}
			})
		}
	}
}

// lifecycle records what PerWorker's init and the handlers' Close see. The
// fail fields make one worker or one item fail; zero means no failure.
type lifecycle struct {
	failItem    int // the item whose Handle returns errBoom (0 means none; items start at 1)
	failInit    int // the worker ID whose init returns errInit
	panicInit   int // the worker ID whose init panics
	failClose   int // the worker ID whose Close returns errClose
	nilHandler  int // the worker ID whose init returns a nil handler
	mu          sync.Mutex
	inits       []int          // worker IDs, in init order
	loggerNames map[int]string // worker ID -> the name of the logger init got
	built       map[int]int    // worker ID -> handlers built
	closes      map[int]int    // worker ID -> Close calls
	handled     map[int]int    // worker ID -> items its handler saw
}

var (
	errInit  = errors.New("init refused")
	errClose = errors.New("close refused")
)

func (l *lifecycle) proc() stage.Proc[int, int] {
	l.loggerNames = map[int]string{}
	l.built = map[int]int{}
	l.closes = map[int]int{}
	l.handled = map[int]int{}
	return stage.PerWorker(func(_ context.Context, w stage.Worker) (stage.Handler[int, int], error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.inits = append(l.inits, w.ID)
		if w.Logger != nil {
			l.loggerNames[w.ID] = w.Logger.Name()
		}
		switch w.ID {
		case l.failInit:
			return nil, errInit
		case l.panicInit:
			panic("init exploded")
		case l.nilHandler:
			return nil, nil
		}
		l.built[w.ID]++
		return &ownHandler{id: w.ID, l: l}, nil
	})
}

// ownHandler is one worker's own handler. Its count is a plain int on
// purpose: if ParMap ever shared a handler between goroutines, the race
// detector would report it.
type ownHandler struct {
	id int
	l  *lifecycle
	n  int
}

func (h *ownHandler) Handle(_ context.Context, v int) (int, error) {
	h.n++
	if v == h.l.failItem {
		return 0, errBoom
	}
	return v * 2, nil
}

func (h *ownHandler) Close() error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.closes[h.id]++
	h.l.handled[h.id] += h.n
	if h.id == h.l.failClose {
		return errClose
	}
	return nil
}

// items1 returns 1..n, so that 0 can mean "no failing item" in lifecycle.
func items1(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestParMapPerWorker(t *testing.T) {
	const n = 100
	for _, workers := range workerCounts {
		for _, ord := range orderings {
			t.Run(fmt.Sprintf("with %d workers %s each worker builds and closes its own handler", workers, ord.name), func(t *testing.T) {
				l := &lifecycle{}
				var got []int
				st := run(t, pipeline.New(source.Slice(items1(n))).
					Via(stage.ParMap(workers, l.proc(), ord.opts(stage.Name("work"))...)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Len(t, got, n)
				assert.Equal(t, ints(workers + 1)[1:], slices.Sorted(slices.Values(l.inits)), "init once per worker, IDs 1..n")
				closed := 0
				handled := 0
				for id := 1; id <= workers; id++ {
					assert.Equal(t, 1, l.closes[id], "Close calls of worker %d", id)
					assert.Equal(t, "work.worker-"+strconv.Itoa(id), l.loggerNames[id], "logger of worker %d", id)
					closed += l.closes[id]
					handled += l.handled[id]
				}
				assert.Equal(t, workers, closed)
				assert.Equal(t, n, handled, "every item went through exactly one worker's handler")
			})

			t.Run(fmt.Sprintf("with %d workers %s every handler is closed when an item fails", workers, ord.name), func(t *testing.T) {
				l := &lifecycle{failItem: 13}
				st := run(t, pipeline.New(source.Slice(items1(n))).
					Via(stage.ParMap(workers, l.proc(), ord.opts()...)).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "parmap", st.Stage)
				assert.Equal(t, "#12", st.Target, "item 13 is the 13th item, #12 counting from 0")
				assert.NotEmpty(t, l.built)
				assert.Equal(t, l.built, l.closes, "each built handler is closed once")
			})

			t.Run(fmt.Sprintf("with %d workers %s an init error names the worker", workers, ord.name), func(t *testing.T) {
				l := &lifecycle{failInit: workers}
				st := run(t, pipeline.New(source.Slice(items1(n))).
					Via(stage.ParMap(workers, l.proc(), ord.opts()...)).
					Sink(sink.Discard[int]()))

				want := "worker-" + strconv.Itoa(workers)
				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errInit)
				assert.Equal(t, "parmap", st.Stage)
				assert.Equal(t, want, st.Target)
				assert.Contains(t, st.Message, want)
				var se *stage.Error
				if assert.ErrorAs(t, st.Err, &se) {
					assert.Equal(t, want, se.Label)
				}
				assert.Equal(t, l.built, l.closes, "handlers built by the other workers are still closed")
				assert.NotContains(t, l.closes, workers, "the worker whose init failed has no handler to close")
			})
		}
	}

	t.Run("a panicking init is a PanicError naming the worker", func(t *testing.T) {
		l := &lifecycle{panicInit: 2}
		st := run(t, pipeline.New(source.Slice(items1(n))).
			Via(stage.ParMap(3, l.proc())).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "worker-2", st.Target)
		var pe *stage.PanicError
		if assert.ErrorAs(t, st.Err, &pe) {
			assert.Equal(t, "init exploded", pe.Value)
			assert.NotEmpty(t, pe.Stack)
		}
		assert.Equal(t, l.built, l.closes)
	})

	t.Run("an init that returns a nil handler fails the run", func(t *testing.T) {
		l := &lifecycle{nilHandler: 1}
		st := run(t, pipeline.New(source.Slice(items1(n))).
			Via(stage.ParMap(2, l.proc())).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "worker-1", st.Target)
		assert.Contains(t, st.Message, "nil handler")
	})

	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("with %d workers a Close error is reported", workers), func(t *testing.T) {
			l := &lifecycle{failClose: 1}
			st := run(t, pipeline.New(source.Slice(items1(n))).
				Via(stage.ParMap(workers, l.proc())).
				Sink(sink.Discard[int]()))

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, errClose)
			assert.Equal(t, "parmap", st.Stage)
			assert.Equal(t, "worker-1", st.Target)
			assert.Contains(t, st.Message, "close")
			assert.Equal(t, l.built, l.closes)
		})
	}

	t.Run("a shared handler passed with Handle is not closed", func(t *testing.T) {
		h := &sharedCloser{}
		st := run(t, pipeline.New(source.Slice(items1(10))).
			Via(stage.ParMap(4, stage.Handle[int, int](h))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Zero(t, h.closes.Load(), "only PerWorker handlers belong to their worker")
	})
}

// sharedCloser is a concurrency-safe handler with a Close method.
type sharedCloser struct{ closes atomic.Int32 }

func (*sharedCloser) Handle(_ context.Context, v int) (int, error) { return v, nil }
func (s *sharedCloser) Close() error                               { s.closes.Add(1); return nil }

func TestParMapInvalid(t *testing.T) {
	cases := []struct {
		name   string
		stage  stage.Stage
		reason string
	}{
		{"zero workers is invalid", stage.ParMap(0, stage.Func(skewed), stage.Name("squares")), "workers must be >= 1"},
		{"negative workers is invalid", stage.ParMap(-3, stage.Func(skewed), stage.Name("squares")), "workers must be >= 1"},
		{"a zero Proc is invalid", stage.ParMap(4, stage.Proc[int, int]{}, stage.Name("squares")), "nil handler"},
		{"a Func of nil is invalid", stage.ParMap(4, stage.Func[int, int](nil), stage.Name("squares")), "nil handler"},
		{"a zero window is invalid", stage.ParMap(4, stage.Func(skewed), stage.Name("squares"), stage.Ordered(), stage.Window(0)), "window"},
		{"a zero buffer is invalid", stage.ParMap(4, stage.Func(skewed), stage.Name("squares"), stage.Buffer(0)), "buffer"},
		{"a label for another type is invalid", stage.ParMap(4, stage.Func(skewed), stage.Name("squares"), stage.Label(func(string) string { return "" })), "label function"},
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
			assert.Contains(t, st.Message, `"squares"`, "the message names the stage")
			assert.Contains(t, st.Message, c.reason)
			assert.False(t, ran.Load(), "nothing runs in an invalid pipeline")
		})
	}

	t.Run("without a name the message says parmap", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(stage.ParMap(0, stage.Func(skewed))).Sink(sink.Discard[int]()))
		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "parmap")
		assert.Error(t, stage.ParMap(0, stage.Func(skewed)).Err(), "the stage reports itself before any pipeline")
	})
}

func TestParMapFailures(t *testing.T) {
	const total = 1_000_000
	for _, workers := range workerCounts {
		for _, ord := range orderings {
			t.Run(fmt.Sprintf("with %d workers %s an error names the stage and the item and stops the source", workers, ord.name), func(t *testing.T) {
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
				st := run(t, pipeline.New(src).
					Via(stage.ParMap(workers, stage.Func(failOn(func(v int) bool { return v == 13 })), ord.opts(stage.Label(label))...)).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "parmap", st.Stage)
				assert.Equal(t, "item 13", st.Target)
				assert.EqualValues(t, 1, st.Counts.Failed)
				assert.Less(t, produced.Load(), int64(total), "the source stops early")
			})

			t.Run(fmt.Sprintf("with %d workers %s a panic is a PanicError with the function in its stack", workers, ord.name), func(t *testing.T) {
				st := run(t, pipeline.New(source.Slice(ints(20))).
					Via(stage.ParMap(workers, stage.Func(mapPanicsOnThree), ord.opts()...)).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.Equal(t, "parmap", st.Stage)
				assert.Equal(t, "#3", st.Target)
				requirePanic(t, st.Err, "three is not allowed", "mapPanicsOnThree")
			})

			t.Run(fmt.Sprintf("with %d workers %s an error after the stage names the later stage", workers, ord.name), func(t *testing.T) {
				st := run(t, pipeline.New(source.Slice(ints(100))).
					Via(stage.ParMap(workers, stage.Func(skewed), ord.opts()...)).
					Via(stage.Map(func(_ context.Context, v int) (int, error) {
						if v == 500 {
							return 0, errBoom
						}
						return v, nil
					}, stage.Name("after"))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "after", st.Stage)
				var se *stage.Error
				if assert.ErrorAs(t, st.Err, &se) {
					assert.Equal(t, 2, se.Index)
				}
				if ord.ordered {
					assert.Equal(t, "#50", st.Target, "in order, 500 is the 51st result")
				}
			})
		}
	}

	t.Run("cancelling the run's context stops a busy ParMap", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
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
		st := pipeline.New(source.Slice(ints(1000))).
			Via(stage.ParMap(4, stage.Func(h), stage.Ordered())).
			Sink(sink.Discard[int]()).
			Run(ctx)

		assert.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, context.Canceled)
		assert.Zero(t, st.Counts.Failed, "abandoned items are not failures")
	})

	t.Run("two ParMaps in a row pass everything through", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(200))).
			Via(stage.ParMap(8, stage.Func(skewed))).
			Via(stage.ParMap(3, stage.Func(func(_ context.Context, v int) (int, error) { return v / 10, nil }), stage.Ordered())).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, ints(200), slices.Sorted(slices.Values(got)))
	})
}
