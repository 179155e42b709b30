package stage_test

import (
	"context"
	"math"
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

// arrivals collects the items a sink receives with the time since start at
// which each arrived.
type arrivals[T any] struct {
	mu    sync.Mutex
	start time.Time
	got   []T
	at    []time.Duration
}

func (a *arrivals[T]) sink() *sink.Of[T] {
	return sink.Func(func(_ context.Context, v T) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.got = append(a.got, v)
		a.at = append(a.at, time.Since(a.start))
		return nil
	})
}

func TestRateLimit(t *testing.T) {
	for _, f := range feeds {
		t.Run(f.name, func(t *testing.T) {
			t.Run("items go at the rate after the first burst", func(t *testing.T) {
				// In a synctest bubble the clock moves only while every
				// goroutine waits, so the times the sink sees are exact.
				synctest.Test(t, func(t *testing.T) {
					a := &arrivals[int]{start: time.Now()}
					st := pipeline.New(sourceOf(f, ints(8))).
						Via(stage.RateLimit[int](10, 3)).
						Sink(a.sink()).
						Run(context.Background())

					require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					assert.Equal(t, ints(8), a.got)
					ms := time.Millisecond
					assert.Equal(t, []time.Duration{0, 0, 0, 100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms}, a.at,
						"three at once from the full bucket, then one every 100ms")
					assert.Equal(t, pipeline.Counts{In: 8, Done: 8}, st.Counts)
				})
			})

			t.Run("a generous limit passes every item in order", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(2000))).
					Via(stage.RateLimit[int](1e6, 100)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, ints(2000), got)
				assert.Equal(t, pipeline.Counts{In: 2000, Done: 2000}, st.Counts)
			})
		})
	}

	t.Run("tokens saved while the input is idle go at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			a := &arrivals[int]{start: time.Now()}
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.RateLimit[int](10, 2)).
					Sink(a.sink()).
					Run(context.Background())
			}()

			for v := range 3 { // 0 and 1 at once, 2 at 100ms
				ch <- v
			}
			// The source took 2 at 0; at 1s the bucket is full again, with
			// 2 tokens.
			time.Sleep(time.Second)
			for v := 3; v < 6; v++ {
				ch <- v
			}
			close(ch)

			st := <-done
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, ints(6), a.got)
			ms := time.Millisecond
			assert.Equal(t, []time.Duration{0, 0, 100 * ms, 1000 * ms, 1000 * ms, 1100 * ms}, a.at)
		})
	})

	t.Run("on the real clock, n items take at least (n - burst) / rate", func(t *testing.T) {
		// Only a lower bound: a busy machine may make the run slower, never
		// faster.
		const n, burst, perSecond = 25, 5, 400.0
		var got []int
		start := time.Now()
		st := run(t, pipeline.New(source.Slice(ints(n))).
			Via(stage.RateLimit[int](perSecond, burst)).
			Sink(sink.Collect(&got)))
		took := time.Since(start)

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, ints(n), got)
		assert.GreaterOrEqual(t, took, time.Duration(float64(n-burst)/perSecond*float64(time.Second)))
	})

	t.Run("a cancelled run stops an item waiting for its token", func(t *testing.T) {
		// One item an hour: after the first, the run can only end by
		// cancellation. The sink cancels the run when it gets that item.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got []int
		st := pipeline.New(source.Slice(ints(5))).
			Via(stage.RateLimit[int](1.0/3600, 1)).
			Sink(sink.Func(func(_ context.Context, v int) error {
				got = append(got, v)
				cancel()
				return nil
			})).
			Run(ctx)

		assert.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, context.Canceled)
		assert.Equal(t, []int{0}, got)
		assert.EqualValues(t, 1, st.Counts.Done)
		assert.EqualValues(t, 4, st.Counts.Abandoned)
	})

	t.Run("a deadline before the next token ends the run at the deadline with its error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			a := &arrivals[int]{start: start}
			st := pipeline.New(source.Slice(ints(5))).
				Via(stage.RateLimit[int](1, 2)).
				Sink(a.sink()).
				Run(ctx)

			assert.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, context.DeadlineExceeded, st.Message)
			assert.Equal(t, "Cancelled: context deadline exceeded", st.Message)
			assert.Equal(t, 250*time.Millisecond, time.Since(start), "it waited for the deadline")
			assert.Equal(t, []int{0, 1}, a.got)
			assert.Equal(t, pipeline.Counts{In: 5, Done: 2, Abandoned: 3}, st.Counts)
		})
	})

	t.Run("an infinite rate does not limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[int]{start: time.Now()}
			st := pipeline.New(source.Slice(ints(300))).
				Via(stage.RateLimit[int](math.Inf(1), 1)).
				Sink(a.sink()).
				Run(context.Background())

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, ints(300), a.got)
			assert.Equal(t, time.Duration(0), a.at[299])
		})
	})

	t.Run("the chain methods follow it with its item type", func(t *testing.T) {
		var got [][]int
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Via(stage.RateLimit[int](1e6, 10)).
			Filter(func(v int) bool { return v != 1 }).
			Batch(2).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]int{{0, 2}, {3, 4}}, got)
	})

	t.Run("invalid arguments make an invalid stage named in the message", func(t *testing.T) {
		cases := []struct {
			name   string
			stage  stage.Stage
			reason string
		}{
			{"a zero rate", stage.RateLimit[int](0, 1), "rate must be > 0 items per second, got 0"},
			{"a negative rate", stage.RateLimit[int](-2.5, 1), "rate must be > 0 items per second, got -2.5"},
			{"a NaN rate", stage.RateLimit[int](math.NaN(), 1), "rate must be > 0 items per second, got NaN"},
			{"a zero burst", stage.RateLimit[int](10, 0), "burst must be >= 1 item, got 0"},
			{"a bad option", stage.RateLimit[int](10, 1, stage.Buffer(0)), "buffer must be >= 1 item, got 0"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				st := run(t, pipeline.New(source.Slice(ints(3))).Via(c.stage).Sink(sink.Discard[int]()))

				assert.Equal(t, pipeline.CodeInvalid, st.Code)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				assert.Contains(t, st.Message, `stage 1 "ratelimit": `+c.reason)
			})
		}
	})
}
