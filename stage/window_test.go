package stage_test

import (
	"context"
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

// windowRun runs TimeWindow(every) over the items sent on the channel it
// gives send, in a goroutine, and returns its status once send has returned
// and the run has ended. send closes nothing: windowRun closes the channel
// after it.
func windowRun(t *testing.T, ctx context.Context, every time.Duration, a *arrivals[[]int], send func(ch chan<- int), opts ...stage.Option) pipeline.ExitStatus {
	t.Helper()
	ch := make(chan int)
	done := make(chan pipeline.ExitStatus, 1)
	go func() {
		done <- pipeline.New(source.Chan(ch)).
			Via(stage.TimeWindow[int](every, opts...)).
			Sink(a.sink()).
			Run(ctx)
	}()
	send(ch)
	close(ch)
	return <-done
}

func TestTimeWindow(t *testing.T) {
	// Everything here depends on time, so it runs in synctest bubbles: time
	// only moves when every goroutine is blocked, sleeps cost nothing, and
	// the times the sink sees are exact.
	const every = 100 * time.Millisecond
	const ms = time.Millisecond

	t.Run("each window holds what arrived in its period and goes at its end", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[[]int]{start: time.Now()}
			st := windowRun(t, context.Background(), every, a, func(ch chan<- int) {
				ch <- 1 // t=0
				ch <- 2
				time.Sleep(150 * ms)
				ch <- 3 // t=150ms
				time.Sleep(270 * ms)
				ch <- 4 // t=420ms, after two empty periods
				ch <- 5
				time.Sleep(50 * ms) // t=470ms: the end, mid-period
			})

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{1, 2}, {3}, {4, 5}}, a.got)
			assert.Equal(t, []time.Duration{every, 2 * every, 470 * ms}, a.at,
				"a window goes at its period's end, empty periods give nothing, the last goes at the end of the input")
			assert.Equal(t, pipeline.Counts{In: 5, Done: 5}, st.Counts)
		})
	})

	t.Run("periods count from the start of the run, not from an item", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[[]int]{start: time.Now()}
			st := windowRun(t, context.Background(), every, a, func(ch chan<- int) {
				time.Sleep(30 * ms)
				ch <- 1 // t=30ms, in [0, 100ms)
				time.Sleep(100 * ms)
				ch <- 2 // t=130ms, in [100ms, 200ms)
				ch <- 3
				time.Sleep(time.Second)
			})

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{1}, {2, 3}}, a.got)
			assert.Equal(t, []time.Duration{every, 2 * every}, a.at)
		})
	})

	t.Run("items that arrive as a period ends open the next window", func(t *testing.T) {
		for range 10 { // in case the goroutines' order varies
			synctest.Test(t, func(t *testing.T) {
				// Items 1 to 50 come at 100ms, as the first period ends:
				// they go in the second window, whether the goroutine sees
				// its timer or them first.
				a := &arrivals[[]int]{start: time.Now()}
				st := pipeline.New(source.Func(func(_ context.Context, yield func(int) bool) error {
					yield(0)
					time.Sleep(every)
					for v := 1; v <= 50; v++ {
						yield(v)
					}
					time.Sleep(time.Second)
					return nil
				})).
					Via(stage.TimeWindow[int](every)).
					Sink(a.sink()).
					Run(context.Background())

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, [][]int{{0}, ints(51)[1:]}, a.got)
				assert.Equal(t, []time.Duration{every, 2 * every}, a.at)
			})
		}
	})

	t.Run("an input that ends before the first period ends gives one window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[[]int]{start: time.Now()}
			st := pipeline.New(source.Slice(ints(1000))).
				Via(stage.TimeWindow[int](every)).
				Sink(a.sink()).
				Run(context.Background())

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{ints(1000)}, a.got)
			assert.Equal(t, []time.Duration{0}, a.at)
			assert.Equal(t, pipeline.Counts{In: 1000, Done: 1000}, st.Counts)
		})
	})

	t.Run("an empty input gives no window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[[]int]{start: time.Now()}
			st := windowRun(t, context.Background(), every, a, func(chan<- int) { time.Sleep(time.Second) })

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Empty(t, a.got)
			assert.Equal(t, pipeline.Counts{}, st.Counts)
		})
	})

	t.Run("items that wait while a window is slow to go belong to a later window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The sink takes 250ms per window. The first window goes at
			// 100ms and is taken until 350ms: items 2 and 3, sent at 150ms
			// and 320ms, wait in the buffer until then and make the window
			// of [300ms, 400ms).
			a := &arrivals[[]int]{start: time.Now()}
			ch := make(chan int)
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.TimeWindow[int](every)).
					Via(stage.Tap(func(context.Context, []int) error { time.Sleep(250 * ms); return nil })).
					Sink(a.sink()).
					Run(context.Background())
			}()
			ch <- 1
			time.Sleep(150 * ms)
			ch <- 2
			time.Sleep(170 * ms)
			ch <- 3
			time.Sleep(time.Second)
			close(ch)
			st := <-done

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{1}, {2, 3}}, a.got)
			assert.Equal(t, []time.Duration{350 * ms, 650 * ms}, a.at)
			assert.Equal(t, pipeline.Counts{In: 3, Done: 3}, st.Counts)
		})
	})

	t.Run("a window stands for its items: a skipped window counts them all", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[[]int]{start: time.Now()}
			ch := make(chan int)
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch), pipeline.OnError(stage.Skip())).
					Via(stage.TimeWindow[int](every)).
					Via(stage.Map(func(_ context.Context, w []int) ([]int, error) {
						if len(w) == 3 {
							return nil, errBoom
						}
						return w, nil
					})).
					Sink(a.sink()).
					Run(context.Background())
			}()
			for _, v := range []int{1, 2, 3} {
				ch <- v
			}
			time.Sleep(150 * ms)
			ch <- 4
			close(ch)
			st := <-done

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][]int{{4}}, a.got)
			assert.Equal(t, pipeline.Counts{In: 4, Done: 1, Skipped: 3}, st.Counts)
		})
	})

	t.Run("Unbatch after it gives the items back, each source item done", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ch := make(chan int)
			var got []int
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.TimeWindow[int](every)).
					Via(stage.Unbatch[int]()).
					Sink(sink.Collect(&got)).
					Run(context.Background())
			}()
			for v := range 10 {
				ch <- v
				time.Sleep(35 * ms)
			}
			close(ch)
			st := <-done

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, ints(10), got)
			assert.Equal(t, pipeline.Counts{In: 10, Done: 10}, st.Counts)
		})
	})

	t.Run("the chain methods follow it with windows, and can batch them", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var got [][][]int
			ch := make(chan int)
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.TimeWindow[int](every)).
					Filter(func(w []int) bool { return w[0] != 2 }).
					Batch(2).
					Sink(sink.Collect(&got)).
					Run(context.Background())
			}()
			for v := range 4 { // one item in each of four windows
				ch <- v
				time.Sleep(every)
			}
			close(ch)
			st := <-done

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, [][][]int{{{0}, {1}}, {{3}}}, got)
			assert.Equal(t, pipeline.Counts{In: 4, Done: 3, Dropped: 1}, st.Counts)
		})
	})

	t.Run("a cancelled run stops it and abandons the window under way", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			a := &arrivals[[]int]{start: time.Now()}
			ch := make(chan int)
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.TimeWindow[int](time.Hour)).
					Sink(a.sink()).
					Run(ctx)
			}()
			ch <- 1
			synctest.Wait()
			cancel()
			st := <-done

			assert.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Empty(t, a.got)
			assert.Equal(t, pipeline.Counts{In: 1, Abandoned: 1}, st.Counts)
		})
	})

	t.Run("a failure after it stops the run and names the failing stage", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := pipeline.New(source.Slice(ints(5))).
				Via(stage.TimeWindow[int](every)).
				Sink(sink.Func(func(context.Context, []int) error { return errBoom })).
				Run(context.Background())

			require.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, errBoom)
			assert.Equal(t, "sink", st.Stage)
			assert.Equal(t, pipeline.Counts{In: 5, Failed: 5}, st.Counts)
		})
	})

	t.Run("a full buffer holds back the stage before it", func(t *testing.T) {
		for _, c := range []struct {
			buffer int
			sent   time.Duration // when the last send returns
		}{
			// A buffer of one item: item 1 waits in it and the source holds
			// item 2, until the sink has taken the first window, at 1100ms;
			// only then can the source take item 3.
			{1, 1100 * ms},
			// A larger buffer takes all three at once.
			{stage.DefaultBuffer, 150 * ms},
		} {
			synctest.Test(t, func(t *testing.T) {
				a := &arrivals[[]int]{start: time.Now()}
				ch := make(chan int)
				done := make(chan pipeline.ExitStatus, 1)
				go func() {
					done <- pipeline.New(source.Chan(ch)).
						Via(stage.TimeWindow[int](every, stage.Buffer(c.buffer))).
						Via(stage.Tap(func(context.Context, []int) error { time.Sleep(time.Second); return nil })).
						Sink(a.sink()).
						Run(context.Background())
				}()
				ch <- 0 // its window goes at 100ms, and the sink takes it until 1100ms
				time.Sleep(150 * ms)
				for v := 1; v <= 3; v++ {
					ch <- v
				}
				sent := time.Since(a.start)
				close(ch)
				st := <-done

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, c.sent, sent, "buffer %d", c.buffer)
				assert.Equal(t, [][]int{{0}, {1, 2, 3}}, a.got)
				assert.Equal(t, pipeline.Counts{In: 4, Done: 4}, st.Counts)
			})
		}
	})

	t.Run("it is metered as one worker: idle while it waits, backpressured while the sink is slow", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Item 0 comes at 0 and its window goes at 100ms; the stage
			// after it takes a second. The input ends at 500ms, which the
			// goroutine sees once the window has been taken, at 1100ms.
			ch := make(chan int)
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Chan(ch)).
					Via(stage.TimeWindow[int](every)).
					Via(stage.Tap(func(context.Context, []int) error { time.Sleep(time.Second); return nil }, stage.Name("slow"))).
					Sink(sink.Discard[[]int]()).
					Run(context.Background())
			}()
			ch <- 0
			time.Sleep(500 * ms)
			close(ch)
			st := <-done

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			require.Len(t, st.Report.Stages, 4)
			w := st.Report.Stages[1]
			assert.Equal(t, "window", w.Name)
			assert.Equal(t, 1, w.Workers)
			assert.EqualValues(t, 1, w.In)
			assert.EqualValues(t, 1, w.Out)
			assert.Equal(t, 1100*ms, w.Wall)
			assert.Equal(t, 100*ms, w.IdleTime)
			assert.Equal(t, time.Second, w.BackpressTime)
			assert.Zero(t, w.BusyTime)
		})
	})

	t.Run("a run without metrics gives the same windows", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := &arrivals[[]int]{start: time.Now()}
			st := pipeline.New(source.Func(func(_ context.Context, yield func(int) bool) error {
				yield(0)
				yield(1)
				time.Sleep(150 * ms)
				yield(2)
				return nil
			}), pipeline.WithoutMetrics()).
				Via(stage.TimeWindow[int](every)).
				Sink(a.sink()).
				Run(context.Background())

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Empty(t, st.Report.Stages)
			assert.Equal(t, [][]int{{0, 1}, {2}}, a.got)
			assert.Equal(t, []time.Duration{every, 150 * ms}, a.at)
			assert.Equal(t, pipeline.Counts{In: 3, Done: 3}, st.Counts)
		})
	})

	t.Run("invalid arguments make an invalid stage named in the message", func(t *testing.T) {
		cases := []struct {
			name   string
			stage  stage.Stage
			reason string
		}{
			{"a zero period", stage.TimeWindow[int](0), "window period must be > 0, got 0s"},
			{"a negative period", stage.TimeWindow[int](-time.Second), "window period must be > 0, got -1s"},
			{"a zero buffer", stage.TimeWindow[int](time.Second, stage.Buffer(0)), "buffer must be >= 1 item, got 0"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				st := run(t, pipeline.New(source.Slice(ints(3))).Via(c.stage).Sink(sink.Discard[[]int]()))

				assert.Equal(t, pipeline.CodeInvalid, st.Code)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				assert.Contains(t, st.Message, `stage 1 "window": `+c.reason)
			})
		}
	})
}
