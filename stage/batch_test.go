package stage_test

import (
	"context"
	"sync"
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

func TestBatchBySize(t *testing.T) {
	cases := []struct {
		name string
		in   []int
		size int
		want [][]int
	}{
		{"full batches only", ints(6), 3, [][]int{{0, 1, 2}, {3, 4, 5}}},
		{"the last batch is partial", ints(7), 3, [][]int{{0, 1, 2}, {3, 4, 5}, {6}}},
		{"size 1 makes one batch per item", ints(3), 1, [][]int{{0}, {1}, {2}}},
		{"fewer items than size make one partial batch", ints(2), 5, [][]int{{0, 1}}},
		{"empty input makes no batch", nil, 3, nil},
	}
	for _, c := range cases {
		for _, timed := range []bool{false, true} {
			name := c.name
			opts := []stage.Option{}
			if timed {
				// A MaxWait far longer than the test: the timed Batch must
				// then behave exactly like the sequential one.
				name += " with a long MaxWait"
				opts = append(opts, stage.MaxWait(time.Hour))
			}
			t.Run(name, func(t *testing.T) {
				var got [][]int
				st := run(t, pipeline.New(source.Slice(c.in)).
					Via(stage.Batch[int](c.size, opts...)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, c.want, got)
				assert.EqualValues(t, len(c.in), st.Counts.In)
				assert.EqualValues(t, len(c.in), st.Counts.Done, "Done counts the source items of the batches that reached the sink")
				assert.Zero(t, st.Counts.Abandoned)
			})
		}
	}

	t.Run("each batch is a slice of its own", func(t *testing.T) {
		var got [][]int
		st := run(t, pipeline.New(source.Slice(ints(9))).Via(stage.Batch[int](3)).Sink(sink.Collect(&got)))
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		require.Len(t, got, 3)

		got[0] = append(got[0][:1], -1, -2, -3, -4)
		assert.Equal(t, []int{3, 4, 5}, got[1], "growing one batch must not write into the next")
		assert.Equal(t, []int{6, 7, 8}, got[2])
	})
}

func TestBatchInvalid(t *testing.T) {
	cases := []struct {
		name   string
		stage  stage.Stage
		reason string
	}{
		{"size 0", stage.Batch[int](0), "batch size must be >= 1, got 0"},
		{"a negative size", stage.Batch[int](-2), "batch size must be >= 1, got -2"},
		{"a zero MaxWait", stage.Batch[int](2, stage.MaxWait(0)), "max wait"},
		{"a zero buffer with MaxWait", stage.Batch[int](2, stage.MaxWait(time.Second), stage.Buffer(0)), "buffer"},
	}
	for _, c := range cases {
		t.Run(c.name+" is invalid", func(t *testing.T) {
			st := run(t, pipeline.New(source.Slice(ints(3))).Via(c.stage).Sink(sink.Discard[[]int]()))

			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
			assert.Contains(t, st.Message, `"batch"`, "the message names the stage")
			assert.Contains(t, st.Message, c.reason)
		})
	}
}

// timedBatches collects the batches a sink receives with the (fake) time
// since start at which each arrived.
type timedBatches struct {
	mu    sync.Mutex
	start time.Time
	got   [][]int
	at    []time.Duration
}

func (b *timedBatches) sink() *sink.Of[[]int] {
	return sink.Func(func(_ context.Context, v []int) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.got = append(b.got, v)
		b.at = append(b.at, time.Since(b.start))
		return nil
	})
}

func TestBatchMaxWait(t *testing.T) {
	// Everything here depends on time, so it runs in a synctest bubble:
	// time only moves when every goroutine is blocked, sleeps cost nothing,
	// and the times the sink sees are exact.
	const wait = 100 * time.Millisecond

	t.Run("a partial batch is flushed after the wait and the last at the end of the stream", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			b := &timedBatches{start: time.Now()}
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.Batch[int](3, stage.MaxWait(wait))).
					Sink(b.sink()).
					Run(context.Background())
			}()

			// t=0: four items, so one full batch at once and one waiting.
			for _, v := range []int{1, 2, 3, 4} {
				ch <- v
			}
			// t=1s: two more, long after the first partial batch was flushed.
			time.Sleep(time.Second)
			ch <- 5
			ch <- 6
			// t=1.01s: the end, before their wait is over.
			time.Sleep(10 * time.Millisecond)
			close(ch)

			st := <-done
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{1, 2, 3}, {4}, {5, 6}}, b.got)
			assert.Equal(t, []time.Duration{0, wait, time.Second + 10*time.Millisecond}, b.at,
				"a full batch goes at once, a partial one after MaxWait, the last one at the end")
			assert.EqualValues(t, 6, st.Counts.In)
			assert.EqualValues(t, 6, st.Counts.Done)
		})
	})

	t.Run("the wait starts with the first item of a batch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			b := &timedBatches{start: time.Now()}
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.Batch[int](10, stage.MaxWait(wait))).
					Sink(b.sink()).
					Run(context.Background())
			}()

			// One item every 30ms: items 1..4 arrive at 0, 30, 60 and 90ms,
			// the batch is flushed at 100ms, and item 5 (at 120ms) starts a
			// new wait that ends at 220ms.
			for v := 1; v <= 5; v++ {
				if v > 1 {
					time.Sleep(30 * time.Millisecond)
				}
				ch <- v
			}
			time.Sleep(time.Second)
			close(ch)

			st := <-done
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{1, 2, 3, 4}, {5}}, b.got)
			assert.Equal(t, []time.Duration{wait, 120*time.Millisecond + wait}, b.at)
		})
	})

	t.Run("a timed Batch chained with the pipeline's Batch method flushes too", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			b := &timedBatches{start: time.Now()}
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Batch(4, stage.MaxWait(wait)).
					Sink(b.sink()).
					Run(context.Background())
			}()

			ch <- 1
			time.Sleep(2 * wait)
			ch <- 2
			close(ch)

			st := <-done
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{1}, {2}}, b.got)
			assert.Equal(t, []time.Duration{wait, 2 * wait}, b.at)
		})
	})

	t.Run("a cancelled run stops a timed Batch that is waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			ctx, cancel := context.WithCancel(context.Background())
			b := &timedBatches{start: time.Now()}
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.Batch[int](4, stage.MaxWait(time.Hour))).
					Sink(b.sink()).
					Run(ctx)
			}()

			ch <- 1
			synctest.Wait()
			cancel()

			st := <-done
			assert.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Empty(t, b.got, "the held item is abandoned, not flushed")
		})
	})
}
