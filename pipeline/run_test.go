package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counting returns a source of n ints that counts how many it produced, so
// tests can see that a failing run stopped it early.
func counting(n int, produced *atomic.Int64) *source.Of[int] {
	return source.Func(func(_ context.Context, yield func(int) bool) error {
		for i := range n {
			produced.Add(1)
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
}

// runWithin runs p and fails the test, instead of hanging it, if Run does
// not return within d.
func runWithin(t *testing.T, ctx context.Context, d time.Duration, p *pipeline.Pipeline) pipeline.ExitStatus {
	t.Helper()
	done := make(chan pipeline.ExitStatus, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case st := <-done:
		return st
	case <-time.After(d):
		t.Fatalf("Run did not return within %v", d)
		return pipeline.ExitStatus{}
	}
}

var errBoom = errors.New("boom")

func TestFailFastStopsAtTheFirstError(t *testing.T) {
	const total, bad = 1_000_000, 17
	for _, workers := range []int{1, 2, 8} {
		for _, ordered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d workers, ordered %v", workers, ordered), func(t *testing.T) {
				var produced atomic.Int64
				opts := []stage.Option{stage.Name("square"), stage.Label(func(v int) string { return fmt.Sprintf("%d / %d", v, total) })}
				if ordered {
					opts = append(opts, stage.Ordered())
				}
				h := stage.Func(func(_ context.Context, v int) (int, error) {
					if v == bad {
						return 0, errBoom
					}
					return v * v, nil
				})
				st := runWithin(t, context.Background(), 30*time.Second,
					pipeline.New(counting(total, &produced)).ParMap(workers, h, opts...).Sink(sink.Discard[int]()))

				assert.Equal(t, pipeline.CodeFailure, st.Code)
				assert.Equal(t, "square", st.Stage)
				assert.Equal(t, "17 / 1000000", st.Target)
				assert.ErrorIs(t, st.Err, errBoom)
				var se *stage.Error
				require.ErrorAs(t, st.Err, &se)
				assert.Equal(t, 1, se.Index)
				assert.Contains(t, st.Message, `stage 1 "square", item "17 / 1000000": boom`)
				assert.Less(t, produced.Load(), int64(total), "the source must stop early")
				assert.Equal(t, int64(1), st.Counts.Failed)
				balanced(t, st.Counts)
			})
		}
	}
}

func TestAPanicBecomesAnErrorWithItsStack(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			h := stage.Func(func(_ context.Context, v int) (int, error) {
				if v == 5 {
					panicInHandler()
				}
				return v, nil
			})
			st := runWithin(t, context.Background(), 30*time.Second,
				pipeline.New(source.Slice(make([]int, 100))).
					Map(stage.Func(func(_ context.Context, v int) (int, error) { return v + 5, nil })).
					ParMap(workers, h).Sink(sink.Discard[int]()))
			assert.Equal(t, pipeline.CodeFailure, st.Code)
			var pe *stage.PanicError
			require.ErrorAs(t, st.Err, &pe)
			assert.Equal(t, "handler exploded", pe.Value)
			assert.Contains(t, string(pe.Stack), "panicInHandler", "the stack names the panicking function")
			assert.Contains(t, st.Message, "panic: handler exploded")
		})
	}
}

func panicInHandler() { panic("handler exploded") }

func TestCancellingTheContextStopsPromptly(t *testing.T) {
	for _, workers := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var seen atomic.Int64
			h := stage.Func(func(ctx context.Context, v int) (int, error) {
				if seen.Add(1) == 50 {
					cancel()
				}
				select {
				case <-time.After(time.Millisecond):
				case <-ctx.Done():
					return 0, ctx.Err()
				}
				return v, nil
			})
			var produced atomic.Int64
			st := runWithin(t, ctx, 10*time.Second,
				pipeline.New(counting(1_000_000, &produced)).ParMap(workers, h).Sink(sink.Discard[int]()))
			assert.Equal(t, pipeline.CodeFailure, st.Code)
			assert.ErrorIs(t, st.Err, context.Canceled)
			assert.Contains(t, st.Message, "Cancelled")
			assert.Zero(t, st.Counts.Failed, "items abandoned by a cancellation are not failures")
			assert.Less(t, produced.Load(), int64(1_000_000))
			balanced(t, st.Counts)
		})
	}
}

func TestBackpressureBoundsWhatTheSourceEmits(t *testing.T) {
	const buffer, total = 4, 10_000
	for _, workers := range []int{1, 3} {
		for _, ordered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d workers, ordered %v", workers, ordered), func(t *testing.T) {
				release := make(chan struct{})
				blocked := make(chan struct{})
				var once atomic.Bool
				snk := sink.Func(func(ctx context.Context, _ int) error {
					if once.CompareAndSwap(false, true) {
						close(blocked)
						<-release
					}
					return nil
				})
				var produced atomic.Int64
				opts := []stage.Option{stage.Buffer(buffer)}
				if ordered {
					opts = append(opts, stage.Ordered())
				}
				p := pipeline.New(counting(total, &produced)).ParMap(workers, stage.Func(double), opts...).Sink(snk)
				done := make(chan pipeline.ExitStatus, 1)
				go func() { done <- p.Run(context.Background()) }()

				<-blocked
				// Give the source every chance to run ahead; it must not.
				time.Sleep(100 * time.Millisecond)
				// Items move in chunks of at most buffer items. One item in
				// the source's hand; unordered: the chunk the intake fills,
				// a full intake buffer, a chunk per worker, a full output
				// buffer, the emitter's chunk; ordered: that chunk and the
				// window, which reaches the sink and by default is as large.
				const chunk = buffer
				limit := int64(1 + 2*buffer + (workers+2)*chunk)
				if ordered {
					limit = int64(1 + chunk + stage.DefaultWindow(workers, buffer))
				}
				assert.LessOrEqual(t, produced.Load(), limit)
				close(release)

				st := <-done
				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, int64(total), st.Counts.Done)
			})
		}
	}
}

func TestDrainLetsInFlightItemsFinish(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			stop := make(chan os.Signal, 2)
			var done atomic.Int64
			h := stage.Func(func(ctx context.Context, v int) (int, error) {
				time.Sleep(time.Millisecond)
				return v, nil
			})
			snk := sink.Func(func(context.Context, int) error {
				if done.Add(1) == 20 {
					stop <- syscall.SIGINT
				}
				return nil
			})
			var produced atomic.Int64
			st := runWithin(t, context.Background(), 30*time.Second,
				pipeline.New(counting(1_000_000, &produced), pipeline.WithStopChannel(stop)).
					ParMap(workers, h, stage.Buffer(8)).Sink(snk))

			assert.Equal(t, 130, st.Code)
			var se *pipeline.SignalError
			require.ErrorAs(t, st.Err, &se)
			assert.False(t, se.Hard)
			assert.Equal(t, syscall.SIGINT, se.Signal)
			assert.Less(t, st.Counts.In, int64(1_000_000), "the source stopped")
			assert.Equal(t, st.Counts.In, st.Counts.Done, "every item already emitted finished")
			assert.Zero(t, st.Counts.Abandoned)
			// The generator may have made one more item that yield refused.
			assert.InDelta(t, st.Counts.In, produced.Load(), 1)
			assert.Contains(t, st.Message, "drained")
		})
	}
}

func TestASecondSignalStopsHard(t *testing.T) {
	stop := make(chan os.Signal, 2)
	started := make(chan struct{})
	var once atomic.Bool
	h := stage.Func(func(ctx context.Context, v int) (int, error) {
		if once.CompareAndSwap(false, true) {
			close(started)
		}
		<-ctx.Done() // a handler that only a hard stop ends
		return 0, ctx.Err()
	})
	go func() {
		<-started
		stop <- syscall.SIGTERM
		stop <- syscall.SIGTERM
	}()
	st := runWithin(t, context.Background(), 30*time.Second,
		pipeline.New(source.Slice([]int{1, 2, 3}), pipeline.WithStopChannel(stop)).ParMap(2, h).Sink(sink.Discard[int]()))
	assert.Equal(t, 128+int(syscall.SIGTERM), st.Code)
	var se *pipeline.SignalError
	require.ErrorAs(t, st.Err, &se)
	assert.True(t, se.Hard)
	assert.Contains(t, st.Message, "hard")
	assert.Zero(t, st.Counts.Done)
	assert.Equal(t, st.Counts.In, st.Counts.Abandoned, "a hard stop abandons what is in flight")
}

func TestExitStatusOnSuccess(t *testing.T) {
	reg := stats.New()
	var heard []string
	p := pipeline.New(source.Slice([]int{1, 2, 3, 4, 5}),
		pipeline.WithStats(reg),
		pipeline.OnExit(func(st pipeline.ExitStatus) { heard = append(heard, "first:"+st.Message) }),
		pipeline.OnExit(func(st pipeline.ExitStatus) { heard = append(heard, "second:"+st.Message) }),
	).
		Filter(func(v int) bool { return v != 3 }).
		ParMap(2, stage.Func(func(_ context.Context, v int) (stats.Delta, error) {
			return stats.Delta{"seen": 1, "sum": int64(v)}, nil
		})).
		Sink(stats.Sink(reg))
	st := p.Run(context.Background())

	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.True(t, st.OK())
	assert.NoError(t, st.Err)
	assert.Equal(t, "Success", st.Message)
	assert.Equal(t, pipeline.Counts{In: 5, Done: 4, Dropped: 1}, st.Counts)
	assert.Equal(t, stats.Snapshot{"seen": 4, "sum": 12}, st.Stats)
	assert.Equal(t, []string{"first:Success", "second:Success"}, heard)
	assert.Regexp(t, `^Finished with code 0 in \d+\.\d\ds with message: \[Success\]$`, st.String())
	assert.Greater(t, st.Duration, time.Duration(0))
}

func TestAPipelineRunsAgainFromScratch(t *testing.T) {
	var got []int
	p := pipeline.New(source.Slice([]int{1, 2, 3})).Batch(2).
		Map(stage.Func(func(_ context.Context, b []int) (int, error) { return len(b), nil })).
		Sink(sink.Func(func(_ context.Context, n int) error { got = append(got, n); return nil }))
	for range 3 {
		got = nil
		st := p.Run(context.Background())
		require.Equal(t, 0, st.Code, st.Message)
		assert.Equal(t, []int{2, 1}, got, "no state (a partial batch, a counter) leaks between runs")
	}
}

// Found by the chaos suite (seeds 1272, 323168762220): a signal sent after
// ctx was cancelled turned the ending into a drain, and once that was fixed,
// a sender on an unbuffered stop channel blocked until Run returned.
func TestASignalAfterACancellationIsIgnoredWithoutBlockingItsSender(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan os.Signal) // unbuffered: a send waits for Run
	sent := make(chan struct{})
	h := stage.Func(func(hctx context.Context, v int) (int, error) {
		if v == 0 {
			cancel()
			<-hctx.Done()
			stop <- syscall.SIGINT // must be taken although the run is stopping
			close(sent)
		}
		return v, nil
	})
	st := runWithin(t, ctx, 10*time.Second,
		pipeline.New(source.Slice([]int{0, 1, 2}), pipeline.WithStopChannel(stop)).ParMap(1, h).Sink(sink.Discard[int]()))
	<-sent
	assert.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.ErrorIs(t, st.Err, context.Canceled)
	var se *pipeline.SignalError
	assert.False(t, errors.As(st.Err, &se))
	balanced(t, st.Counts)
}

// Found by the chaos suite (seed 328): a drain cut short by a cancellation
// was reported as a clean drain although it abandoned items.
func TestADrainCutShortByACancellationIsAHardStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan os.Signal)
	h := stage.Func(func(hctx context.Context, v int) (int, error) {
		if v == 0 {
			stop <- syscall.SIGINT // drain: in-flight items should finish...
			cancel()               // ...but the caller gives up
		}
		<-hctx.Done()
		return 0, hctx.Err()
	})
	st := runWithin(t, ctx, 10*time.Second,
		pipeline.New(source.Slice([]int{0, 1, 2}), pipeline.WithStopChannel(stop)).ParMap(2, h).Sink(sink.Discard[int]()))
	assert.Equal(t, 130, st.Code, st.Message)
	var se *pipeline.SignalError
	require.ErrorAs(t, st.Err, &se)
	assert.True(t, se.Hard, "items were abandoned")
	assert.Contains(t, st.Message, "Stopped hard")
	assert.Positive(t, st.Counts.Abandoned)
	balanced(t, st.Counts)
}

// Found by the chaos suite (seeds 547219527392 and 12 more of 100,000): a cancellation
// and a signal both at the very start raced in the watcher's select, which
// picks at random between ready cases, so a cancelled run could end as a
// drain.
func TestACancellationBeforeTheWatcherStartsWinsOverALaterSignal(t *testing.T) {
	for range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		stop := make(chan os.Signal)
		runDone, sent := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sent)
			cancel()
			select {
			case stop <- syscall.SIGINT: // taken (and ignored) while Run winds down
			case <-runDone: // or Run was over first
			}
		}()
		<-ctx.Done()
		st := runWithin(t, ctx, 10*time.Second,
			pipeline.New(source.Slice([]int{1, 2, 3}), pipeline.WithStopChannel(stop)).Sink(sink.Discard[int]()))
		close(runDone)
		<-sent
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		require.ErrorIs(t, st.Err, context.Canceled)
	}
}
