package textsink_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/internal/settletest"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// toWriter is a pipeline from src into one of the sinks to an io.Writer,
// with the line it writes for order i and how many lines come before the
// first order's (CSV's header).
type toWriter struct {
	name   string
	header int
	build  func(src *source.Of[order], w io.Writer, opts ...textsink.Option) *pipeline.Pipeline
	line   func(i int) string
}

var toWriters = []toWriter{
	{"Lines", 0, func(src *source.Of[order], w io.Writer, opts ...textsink.Option) *pipeline.Pipeline {
		return pipeline.New(src).Via(stage.Map(func(_ context.Context, o order) (string, error) { return strconv.Itoa(o.ID), nil })).
			Sink(textsink.Lines(w, opts...))
	}, strconv.Itoa},
	{"JSONL", 0, func(src *source.Of[order], w io.Writer, opts ...textsink.Option) *pipeline.Pipeline {
		return pipeline.New(src).Sink(textsink.JSONL[order](w, opts...))
	}, func(i int) string { return fmt.Sprintf(`{"id":%d,"amount":%d.5}`, i, i) }},
	{"CSV", 1, func(src *source.Of[order], w io.Writer, opts ...textsink.Option) *pipeline.Pipeline {
		return pipeline.New(src).Sink(textsink.CSV(w, []string{"id", "amount"}, row, opts...))
	}, func(i int) string { return fmt.Sprintf("%d,%d.50", i, i) }},
}

func orderAt(i int) order { return order{ID: i, Amount: float64(i) + 0.5} }

// arrival is a line read from a pipe, and when.
type arrival struct {
	line string
	at   time.Time
}

// readLines reads r's lines as they come, until r ends, skipping the first
// skip.
func readLines(r io.Reader, skip int) <-chan arrival {
	out := make(chan arrival, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		for n := 0; sc.Scan(); n++ {
			if n >= skip {
				out <- arrival{sc.Text(), time.Now()}
			}
		}
	}()
	return out
}

// liveRun runs c's pipeline into a pipe, from a source that gives n items,
// each once the line of the one before has come out of the pipe (failing
// the run if it has not within 5 s): it returns the run's status and how
// long after its write each line came out.
func liveRun(t *testing.T, c toWriter, n int, opts ...textsink.Option) (pipeline.ExitStatus, []time.Duration) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	lines := readLines(r, c.header)
	var lags []time.Duration
	src := source.Func(func(ctx context.Context, yield func(order) bool) error {
		for i := range n {
			if !yield(orderAt(i)) {
				return nil
			}
			written := time.Now() // the sink has written it: it runs in this goroutine
			select {
			case a := <-lines:
				if a.line != c.line(i) {
					return fmt.Errorf("line %d is %q, want %q", i, a.line, c.line(i))
				}
				lags = append(lags, a.at.Sub(written))
			case <-time.After(5 * time.Second):
				return fmt.Errorf("line %d not out 5s after it was written", i)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	st := c.build(src, w, opts...).Run(context.Background())
	require.NoError(t, w.Close())
	return st, lags
}

// A streaming job's lines are visible downstream as they are written,
// within the flush interval (100 ms by default), not when the input ends:
// the source gives an item, then waits until its line has come out of the
// pipe before it gives the next. A sink that flushes only at the end fails
// at the first item.
func TestAWriterSinksLinesAreLive(t *testing.T) {
	const interval = 100 * time.Millisecond
	for _, c := range toWriters {
		t.Run(c.name, func(t *testing.T) {
			st, lags := liveRun(t, c, 5)
			require.True(t, st.OK(), st.Message)
			t.Logf("each line out after %v", lags)
			for i, lag := range lags {
				// The interval, plus a generous margin for a loaded machine.
				assert.Less(t, lag, interval+400*time.Millisecond, "line %d", i)
			}
		})
	}
}

// FlushEvery sets the interval: with 1 s, each line comes out about 1 s
// after it was written (a timer never fires early; the test reads the
// clock a little after the write, so allow 100 ms less), not after the
// default 100 ms, and within the interval plus a margin.
func TestFlushEverySetsTheInterval(t *testing.T) {
	st, lags := liveRun(t, toWriters[1], 2, textsink.FlushEvery(time.Second))
	require.True(t, st.OK(), st.Message)
	t.Logf("each line out after %v", lags)
	for i, lag := range lags {
		assert.GreaterOrEqual(t, lag, 900*time.Millisecond, "line %d", i)
		assert.Less(t, lag, 1400*time.Millisecond, "line %d", i)
	}

	st = pipeline.New(source.Slice([]string{"a"})).Sink(textsink.Lines(io.Discard, textsink.FlushEvery(-time.Second))).Run(t.Context())
	assert.Equal(t, pipeline.CodeInvalid, st.Code)
	assert.Contains(t, st.Message, "flush interval must be positive, got -1s")
}

// recorder is an io.Writer that keeps what it is given, for a test to read
// while the run goes on, and fails once failAfter writes have been made
// (if failAfter > 0).
type recorder struct {
	mu        sync.Mutex
	b         strings.Builder
	writes    int
	failAfter int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failAfter > 0 && r.writes >= r.failAfter {
		return 0, errors.New("broken pipe")
	}
	r.writes++
	return r.b.WriteString(string(p))
}

func (r *recorder) lines() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Count(r.b.String(), "\n")
}

// A writer sink settles its items' receipts when it flushes them: each
// item's receipt settles while the run goes on (within 5 s), and by then
// its line has reached the writer.
func TestAWriterSinkSettlesReceiptsAsItFlushes(t *testing.T) {
	for _, c := range toWriters {
		t.Run(c.name, func(t *testing.T) {
			var out recorder
			rs := settletest.Receipts(10)
			wait := settletest.SettleEvery(rs, 1, 5*time.Second)
			src := settletest.Source(rs, orderAt, func(ctx context.Context, i int) error {
				if err := wait(ctx, i); err != nil {
					return err
				}
				if n := out.lines() - c.header; n <= i {
					return fmt.Errorf("item %d settled when %d lines had reached the writer", i, n)
				}
				return nil
			})
			st := c.build(src, &out, textsink.FlushEvery(5*time.Millisecond)).Run(t.Context())
			require.True(t, st.OK(), st.Message)
			assert.Equal(t, 10+c.header, out.lines())
		})
	}
}

// A writer that fails at a flush fails the run, naming the sink; the items
// of that flush are not settled, so their source delivers them again.
func TestAFailedFlushFailsTheRun(t *testing.T) {
	out := recorder{failAfter: 1}
	rs := settletest.Receipts(10)
	src := settletest.Source(rs, orderAt, settletest.SettleEvery(rs, 1, 5*time.Second))
	st := pipeline.New(src).Sink(textsink.JSONL[order](&out, textsink.FlushEvery(time.Millisecond))).Run(t.Context())
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, `stage 1 "jsonl", item "flush": broken pipe`)
	calls, _ := rs[0].Calls()
	assert.Equal(t, 1, calls, "the first flush went through")
	calls, _ = rs[1].Calls()
	assert.Zero(t, calls)
}
