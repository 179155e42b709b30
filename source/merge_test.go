package source_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// span returns from, from+1, ... from+n-1.
func span(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}

// endless returns a generator that yields from, from+1, ... until yield
// says false or ctx is done, and sets *returned when it returns.
func endless(from int, returned *atomic.Bool) func(context.Context, func(int) bool) error {
	return func(ctx context.Context, yield func(int) bool) error {
		defer returned.Store(true)
		for i := from; ; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !yield(i) {
				return nil
			}
		}
	}
}

// idle returns a generator that yields nothing and waits for ctx, setting
// *returned when it returns.
func idle(returned *atomic.Bool) func(context.Context, func(int) bool) error {
	return func(ctx context.Context, _ func(int) bool) error {
		defer returned.Store(true)
		<-ctx.Done()
		return ctx.Err()
	}
}

// filled returns a channel holding vs, not closed.
func filled(vs []int) chan int {
	ch := make(chan int, len(vs))
	for _, v := range vs {
		ch <- v
	}
	return ch
}

// closed returns a closed channel holding vs.
func closed(vs []int) chan int {
	ch := filled(vs)
	close(ch)
	return ch
}

// inOrder reports whether the items of got in [from, from+n) come in
// increasing order.
func inOrder(got []int, from, n int) bool {
	prev := from - 1
	for _, v := range got {
		if v >= from && v < from+n {
			if v <= prev {
				return false
			}
			prev = v
		}
	}
	return true
}

func TestMerge(t *testing.T) {
	const n = 3000
	sources := func() []*source.Of[int] {
		gen := source.Func(func(_ context.Context, yield func(int) bool) error {
			for _, v := range span(0, n) {
				if !yield(v) {
					return nil
				}
			}
			return nil
		})
		return []*source.Of[int]{gen, source.Slice(span(10_000, n)), source.Chan(closed(span(20_000, n)))}
	}

	t.Run("it emits every item of every source once, each source's in order", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Merge(sources()...)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3*n)
		for _, from := range []int{0, 10_000, 20_000} {
			assert.True(t, inOrder(got, from, n), "the items of the source from %d are in order", from)
		}
		assert.Equal(t, slices.Concat(span(0, n), span(10_000, n), span(20_000, n)), slices.Sorted(slices.Values(got)))
		assert.Equal(t, int64(3*n), st.Counts.In)
		assert.Equal(t, int64(3*n), st.Counts.Done)
	})

	t.Run("Counts.In is the number of items emitted, whatever the stages after it keep", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Merge(sources()...)).
			Filter(func(v int) bool { return v%2 == 0 }).
			ParMap(3, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil })).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Len(t, got, 3*n/2)
		assert.Equal(t, int64(3*n), st.Counts.In)
		assert.Equal(t, int64(3*n/2), st.Counts.Done)
		assert.Equal(t, int64(3*n/2), st.Counts.Dropped)
	})

	t.Run("its sources run concurrently", func(t *testing.T) {
		// Each generator waits for the other to start: run one after the
		// other, they would never finish.
		aStarted, bStarted := make(chan struct{}), make(chan struct{})
		rendezvous := func(mine, theirs chan struct{}, v int) *source.Of[int] {
			return source.Func(func(ctx context.Context, yield func(int) bool) error {
				close(mine)
				select {
				case <-theirs:
				case <-ctx.Done():
					return ctx.Err()
				}
				yield(v)
				return nil
			})
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var got []int
		st := pipeline.New(source.Merge(rendezvous(aStarted, bStarted, 1), rendezvous(bStarted, aStarted, 2))).
			Sink(sink.Collect(&got)).Run(ctx)

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.ElementsMatch(t, []int{1, 2}, got)
	})

	t.Run("each run calls the generators anew", func(t *testing.T) {
		calls := 0
		gen := source.Func(func(_ context.Context, yield func(int) bool) error {
			calls++
			yield(calls)
			return nil
		})
		var got []int
		p := pipeline.New(source.Merge(gen, source.Slice([]int{100}))).Sink(sink.Collect(&got))

		require.Equal(t, pipeline.CodeSuccess, p.Run(t.Context()).Code)
		require.Equal(t, pipeline.CodeSuccess, p.Run(t.Context()).Code)
		assert.ElementsMatch(t, []int{1, 100, 2, 100}, got)
		assert.Equal(t, 2, calls)
	})

	t.Run("an empty source and a nested Merge", func(t *testing.T) {
		var got []int
		inner := source.Merge(source.Slice([]int{1, 2}), source.Chan(closed([]int{3})))
		st := pipeline.New(source.Merge(source.Slice([]int(nil)), inner, source.Seq(slices.Values([]int{4, 5})))).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.ElementsMatch(t, []int{1, 2, 3, 4, 5}, got)
		assert.Equal(t, int64(5), st.Counts.In)
	})

	t.Run("a source's error fails the run, naming it, and stops the others", func(t *testing.T) {
		var idleDone atomic.Bool
		bad := source.Func(func(_ context.Context, yield func(int) bool) error {
			for i := range 3 {
				if !yield(i) {
					return nil
				}
			}
			return errBoom
		}).Named("bad")
		var got []int
		st := pipeline.New(source.Merge(source.Func(idle(&idleDone)), bad, source.Chan(make(chan int)))).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "merge", st.Stage)
		assert.Equal(t, "#3", st.Target, "the items Merge emitted")
		assert.Contains(t, st.Message, `source 1 "bad", item #3: boom`, "the source and the items it yielded")
		assert.True(t, idleDone.Load(), "Run returned after the other generators")
		assert.Equal(t, []int{0, 1, 2}, got, "the items yielded before the error reach the sink")
		assert.Equal(t, int64(3), st.Counts.In)
		assert.Equal(t, int64(3), st.Counts.Done)

		var se *stage.Error
		require.ErrorAs(t, st.Err, &se)
		assert.Equal(t, 0, se.Index, "Merge is the source")
	})

	t.Run("a source's error stops sources that keep yielding", func(t *testing.T) {
		var aDone, bDone atomic.Bool
		bad := source.Func(func(context.Context, func(int) bool) error {
			time.Sleep(time.Millisecond)
			return errBoom
		})
		var got []int
		st := pipeline.New(source.Merge(source.Func(endless(0, &aDone)), bad, source.Func(endless(1<<40, &bDone)))).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Contains(t, st.Message, `source 1 "source", item #0`)
		assert.True(t, aDone.Load())
		assert.True(t, bDone.Load())
		assert.Len(t, got, int(st.Counts.In))
	})

	t.Run("a panic in a source becomes a PanicError with its stack, naming it", func(t *testing.T) {
		gen := func(context.Context, func(int) bool) error { panic("generator exploded") }
		st := pipeline.New(source.Merge(source.Slice([]int{1}), source.Func(gen).Named("bomb"))).
			Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `source 1 "bomb"`)
		var pe *stage.PanicError
		require.ErrorAs(t, st.Err, &pe)
		assert.Equal(t, "generator exploded", pe.Value)
		assert.Contains(t, string(pe.Stack), "source_test.TestMerge")
	})

	t.Run("a failure downstream stops every source", func(t *testing.T) {
		var aDone, bDone atomic.Bool
		st := pipeline.New(source.Merge(source.Func(endless(0, &aDone)), source.Func(endless(1<<40, &bDone)), source.Chan(make(chan int)))).
			Sink(failAt(500)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "sink", st.Stage)
		assert.True(t, aDone.Load())
		assert.True(t, bDone.Load())
	})

	t.Run("a drain stops every source, and what was emitted finishes", func(t *testing.T) {
		stop := make(chan os.Signal, 1)
		var aDone, bDone atomic.Bool
		var got []int
		collect := sink.Func(func(_ context.Context, v int) error {
			got = append(got, v)
			if len(got) == 100 {
				stop <- os.Interrupt
			}
			return nil
		})
		src := source.Merge(
			source.Func(endless(0, &aDone)),
			source.Chan(filled(span(1<<40, 10))), // never closed: waits for the drain
			source.Func(idle(&bDone)),
			source.Slice(span(1<<50, 1_000_000)),
		)
		st := pipeline.New(src, pipeline.WithStopChannel(stop)).Sink(collect).Run(t.Context())

		assert.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		assert.Contains(t, st.Message, "drained")
		assert.True(t, aDone.Load())
		assert.True(t, bDone.Load())
		assert.GreaterOrEqual(t, len(got), 100)
		assert.Less(t, len(got), 1_000_000)
		assert.Equal(t, int64(len(got)), st.Counts.In)
		assert.Equal(t, int64(len(got)), st.Counts.Done)
	})

	t.Run("a drain loses no value a channel source received", func(t *testing.T) {
		stop := make(chan os.Signal, 1)
		ch := make(chan int, 5000)
		for i := range 5000 {
			ch <- i
		}
		var got []int
		collect := sink.Func(func(_ context.Context, v int) error {
			got = append(got, v)
			if len(got) == 100 {
				stop <- os.Interrupt
			}
			return nil
		})
		// The channel is never closed: the drain ends the run.
		st := pipeline.New(source.Merge(source.Chan(ch), source.Chan(make(chan int))), pipeline.WithStopChannel(stop)).
			Sink(collect).Run(t.Context())

		assert.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		assert.Equal(t, 5000, len(got)+len(ch), "every value is emitted or still in the channel")
		assert.Equal(t, int64(len(got)), st.Counts.Done)
		for i, v := range got {
			require.Equal(t, i, v, "in order")
		}
	})

	t.Run("a drain before any item ends the run with nothing emitted", func(t *testing.T) {
		stop := make(chan os.Signal, 1)
		stop <- os.Interrupt
		var aDone atomic.Bool
		st := pipeline.New(source.Merge(source.Func(idle(&aDone)), source.Chan(make(chan int))), pipeline.WithStopChannel(stop)).
			Sink(sink.Discard[int]()).Run(t.Context())

		assert.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		assert.True(t, aDone.Load())
		assert.Zero(t, st.Counts.In)
	})

	t.Run("cancelling the context stops every source", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var aDone, bDone atomic.Bool
		seen := 0
		s := sink.Func(func(context.Context, int) error {
			if seen++; seen == 200 {
				cancel()
			}
			return nil
		})
		st := pipeline.New(source.Merge(source.Func(endless(0, &aDone)), source.Func(idle(&bDone)), source.Chan(make(chan int)))).
			Sink(s).Run(ctx)

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, context.Canceled)
		assert.Contains(t, st.Message, "Cancelled")
		assert.True(t, aDone.Load())
		assert.True(t, bDone.Load())
	})

	t.Run("invalid arguments make an invalid pipeline naming the source", func(t *testing.T) {
		for _, c := range []struct {
			name string
			src  *source.Of[int]
			want []string
		}{
			{"no sources", source.Merge[int](), []string{`"merge"`, "no sources"}},
			{"a nil source", source.Merge(source.Slice([]int{1}), nil), []string{`"merge"`, "source 1 is nil"}},
			{"an invalid source", source.Merge(source.Slice([]int{1}), source.Chan[int](nil)), []string{`"merge"`, `source 1 "chan"`, "nil channel"}},
			{"a zero source", source.Merge(&source.Of[int]{}), []string{`source 0 ""`}},
		} {
			t.Run(c.name, func(t *testing.T) {
				require.Error(t, c.src.Err())
				st := pipeline.New(c.src).Sink(sink.Discard[int]()).Run(t.Context())

				require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				for _, w := range c.want {
					assert.Contains(t, st.Message, w)
				}
				assert.Zero(t, st.Counts.In, "nothing runs")
			})
		}
	})

	t.Run("Named renames it", func(t *testing.T) {
		m := source.Merge(source.Func(func(context.Context, func(int) bool) error { return errBoom }))
		st := pipeline.New(m.Named("inputs")).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "inputs", st.Stage)
		assert.Equal(t, "merge", m.Name())
		assert.True(t, errors.Is(st.Err, errBoom))
	})
}
