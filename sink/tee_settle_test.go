package sink_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/internal/settletest"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
)

// called is a Func sink that counts its items, for the source's goroutine
// to read while the run goes on.
type called struct {
	mu sync.Mutex
	n  int
}

func (c *called) sink() *sink.Of[int] {
	return sink.Func(func(context.Context, int) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n++
		return nil
	}).Named("func")
}

func (c *called) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// storedByAll is a settletest after function: it waits until item i's
// receipt has settled (failing after 5 s), and checks that the Func sink
// had it then, and that the Writer had stored it.
func storedByAll(rs []*settletest.Receipt, c *called, s *store) func(context.Context, int) error {
	stored := settledAfterStore(rs, s)
	return func(ctx context.Context, i int) error {
		if err := stored(ctx, i); err != nil {
			return err
		}
		if n := c.count(); n <= i {
			return fmt.Errorf("item %d settled when the Func sink had %d items", i, n)
		}
		return nil
	}
}

// A Tee whose sinks all store as they go (Func sinks, Durable Writers,
// a Tee of such) settles each item as soon as its Write returns: the
// source waits for each item's receipt before it gives the next, and a
// Tee that holds receipts until the end fails at the first item.
func TestATeeOfSinksThatStoreAsTheyGoSettlesEachItemAtOnce(t *testing.T) {
	// durableSink is a New sink of a Durable Writer into s; funcSink is a
	// Func sink into s.
	durableSink := func(s *store) *sink.Of[int] {
		return sink.New("durable", func(context.Context) (sink.Writer[int], error) { return durable{s}, nil })
	}
	funcSink := func(s *store) *sink.Of[int] { return sink.Func(durable{s}.Write) }
	for _, c := range []struct {
		name string
		tee  func(c *called, s *store) *sink.Of[int]
	}{
		{"Func and Durable", func(c *called, s *store) *sink.Of[int] { return sink.Tee(c.sink(), durableSink(s)) }},
		{"Durable and Func", func(c *called, s *store) *sink.Of[int] { return sink.Tee(durableSink(s), c.sink()) }},
		{"Func and a Tee of Durable and Func", func(c *called, s *store) *sink.Of[int] {
			return sink.Tee(c.sink(), sink.Tee(durableSink(s), sink.Discard[int]()))
		}},
		{"Funcs only", func(c *called, s *store) *sink.Of[int] {
			return sink.Tee(c.sink(), sink.Tee(sink.Discard[int](), funcSink(s)))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := settletest.Receipts(20)
			s := &store{rs: rs}
			var f called
			st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, storedByAll(rs, &f, s))).
				Sink(c.tee(&f, s)).Run(t.Context())

			require.True(t, st.OK(), st.Message)
			_, _, problems := s.storedAt()
			assert.Empty(t, problems)
			allDone(t, rs)
		})
	}
}

// A Tee with a Flusher among sinks that store as they go is a Flusher:
// each of its items settles at the Tee's next flush, once every Flusher in
// it has flushed. The source waits for each item's receipt: a flush each.
func TestATeeWithAFlusherSettlesItsItemsAtItsFlushes(t *testing.T) {
	rs := settletest.Receipts(20)
	s, s2, s3 := &store{rs: rs}, &store{rs: rs}, &store{rs: rs}
	var f called
	fl := sink.New("flusher", func(context.Context) (sink.Writer[int], error) { return flusher{s}, nil },
		sink.FlushEvery(10*time.Millisecond))
	d := sink.New("durable", func(context.Context) (sink.Writer[int], error) { return durable{s2}, nil })
	fl2 := sink.New("flusher2", func(context.Context) (sink.Writer[int], error) { return flusher{s3}, nil })
	stored := storedByAll(rs, &f, s)
	after := func(ctx context.Context, i int) error {
		if err := stored(ctx, i); err != nil {
			return err
		}
		if n, _, _ := s3.storedAt(); n <= i {
			return fmt.Errorf("item %d settled when the second flusher had stored %d items", i, n)
		}
		return nil
	}
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, after)).
		Sink(sink.Tee(f.sink(), fl, d, fl2)).Run(t.Context())

	require.True(t, st.OK(), st.Message)
	for _, s := range []*store{s, s3} {
		_, flushes, problems := s.storedAt()
		assert.Empty(t, problems)
		assert.Equal(t, 20, flushes, "the source waits for each item: a flush each")
	}
	allDone(t, rs)
}

// syncBuffer is an io.Writer whose lines a test reads while the run goes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) lines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), "\n")
}

// liveLag returns a settletest after function that waits until item i's
// line has reached out (failing after 5 s) and records how long after the
// item was taken it did: the sink writes in the source's goroutine, so
// the item has been written when after is called.
func liveLag(out *syncBuffer, lags *[]time.Duration) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		written := time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		deadline := time.After(5 * time.Second)
		for out.lines() <= i {
			select {
			case <-tick.C:
			case <-deadline:
				return fmt.Errorf("line %d not out 5s after it was written", i)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		*lags = append(*lags, time.Since(written))
		return nil
	}
}

// A writer sink in a Tee is live: each line reaches its writer within the
// flush interval while the run goes on, the interval being the shortest
// of the Tee's sinks made with New (the JSONL's: DefaultFlushEvery, or the
// one it sets; or another's shorter one), and its receipt settles then.
func TestAWriterSinkInATeeIsLive(t *testing.T) {
	// The interval, plus a generous margin for a loaded machine.
	soon := sink.DefaultFlushEvery + 400*time.Millisecond
	second := []textsink.Option{textsink.FlushEvery(time.Second)}
	for _, c := range []struct {
		name     string
		opts     []textsink.Option
		other    bool // a Durable New sink in the Tee too, at the default interval
		min, max time.Duration
	}{
		{"at the default interval", nil, false, 0, soon},
		// A timer never fires early; the clock is read a little after the
		// write, so allow 100 ms less than the interval.
		{"at the interval the JSONL sets", second, false, 900 * time.Millisecond, 1400 * time.Millisecond},
		{"at another New sink's shorter interval", second, true, 0, soon},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			var lags []time.Duration
			var f called
			rs := settletest.Receipts(3)
			lag := liveLag(&out, &lags)
			settled := settletest.SettleEvery(rs, 1, 5*time.Second)
			after := func(ctx context.Context, i int) error {
				if err := lag(ctx, i); err != nil {
					return err
				}
				return settled(ctx, i)
			}
			sinks := []*sink.Of[int]{f.sink(), textsink.JSONL[int](&out, c.opts...)}
			if c.other {
				s := &store{rs: rs}
				sinks = append(sinks, sink.New("durable", func(context.Context) (sink.Writer[int], error) { return durable{s}, nil }))
			}
			st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, after)).
				Sink(sink.Tee(sinks...)).Run(t.Context())

			require.True(t, st.OK(), st.Message)
			t.Logf("each line out after %v", lags)
			require.Len(t, lags, 3)
			for i, lag := range lags {
				assert.GreaterOrEqual(t, lag, c.min, "line %d", i)
				assert.Less(t, lag, c.max, "line %d", i)
			}
			allDone(t, rs)
		})
	}
}

// A Tee with a sink that only commits (a file renamed into place) holds
// every receipt until it commits, whatever its other sinks are.
func TestATeeWithACommitOnlySinkSettlesWhenItCommits(t *testing.T) {
	rs := settletest.Receipts(20)
	s, s2 := &store{rs: rs}, &store{rs: rs}
	var f called
	committed := func(_ context.Context, i int) error {
		select {
		case <-rs[i].Settled():
			return fmt.Errorf("item %d settled before the commit", i)
		default:
			return nil
		}
	}
	only := sink.New("store", func(context.Context) (sink.Writer[int], error) { return s, nil })
	fl := sink.New("flusher", func(context.Context) (sink.Writer[int], error) { return flusher{s2}, nil },
		sink.FlushEvery(time.Millisecond))
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, committed)).
		Sink(sink.Tee(f.sink(), fl, only)).Run(t.Context())

	require.True(t, st.OK(), st.Message)
	allDone(t, rs)
	stored, _, _ := s.storedAt()
	assert.Equal(t, 20, stored)
}

// A failed flush of one of a Tee's sinks fails the run, naming that sink,
// and settles nothing more.
func TestAFailedFlushInATeeNamesTheSink(t *testing.T) {
	rs := settletest.Receipts(20)
	s := &store{rs: rs, failAt: 2}
	var f called
	fl := sink.New("flusher", func(context.Context) (sink.Writer[int], error) { return flusher{s}, nil },
		sink.FlushEvery(time.Millisecond))
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, settledAfterStore(rs, s))).
		Sink(sink.Tee(f.sink(), fl)).Run(t.Context())

	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Contains(t, st.Message, `"tee", item "flush": sink 1 "flusher": device gone`)
	calls, o := rs[0].Calls()
	assert.Equal(t, 1, calls)
	assert.Equal(t, source.Done, o, "the first flush stored item 0")
	calls, _ = rs[1].Calls()
	assert.Zero(t, calls, "the failed flush did not store item 1: its source delivers it again")
}

// A Tee opens the Writers of all its New sinks at its first item; when one
// fails to open, the ones opened before it are aborted.
func TestATeeWhoseSinkFailsToOpenAbortsTheOnesOpened(t *testing.T) {
	for _, c := range []struct {
		name string
		w    sink.Writer[int]
		err  error
		want string
	}{
		{"with an error", nil, errors.New("no such dir"), "no such dir"},
		{"with a nil Writer", nil, nil, "open returned a nil Writer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := &ledger{}, &ledger{}
			broken := sink.New("broken", func(context.Context) (sink.Writer[int], error) { return c.w, c.err })
			st := pipeline.New(source.Slice(upTo(3))).Sink(sink.Tee(a.sink("a"), broken, b.sink("b"))).Run(t.Context())

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Contains(t, st.Message, `opening the sink's output`)
			assert.Contains(t, st.Message, `sink 1 "broken": `+c.want)
			assert.Equal(t, 1, a.opens)
			assert.Equal(t, 1, a.aborts)
			assert.Zero(t, a.commits)
			assert.Zero(t, b.opens, "the sinks after the broken one are not opened")
		})
	}
}

// A writer sink in a Tee with a sink that only commits is still live:
// each line reaches its writer within the flush interval, while every
// receipt is held until the commit; also when that Tee is in another.
func TestAWriterSinkInATeeThatHoldsIsLive(t *testing.T) {
	for _, c := range []struct {
		name string
		tee  func(w, only *sink.Of[int]) *sink.Of[int]
	}{
		{"in the Tee", func(w, only *sink.Of[int]) *sink.Of[int] { return sink.Tee(w, only) }},
		{"in a Tee in a Tee", func(w, only *sink.Of[int]) *sink.Of[int] {
			return sink.Tee(sink.Discard[int](), sink.Tee(w, only))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out syncBuffer
			var lags []time.Duration
			rs := settletest.Receipts(3)
			s := &store{rs: rs}
			lag := liveLag(&out, &lags)
			after := func(ctx context.Context, i int) error {
				if err := lag(ctx, i); err != nil {
					return err
				}
				for j := range i + 1 {
					select {
					case <-rs[j].Settled():
						return fmt.Errorf("item %d settled before the commit", j)
					default:
					}
				}
				return nil
			}
			only := sink.New("store", func(context.Context) (sink.Writer[int], error) { return s, nil })
			st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, after)).
				Sink(c.tee(textsink.JSONL[int](&out), only)).Run(t.Context())

			require.True(t, st.OK(), st.Message)
			t.Logf("each line out after %v", lags)
			require.Len(t, lags, 3)
			for i, lag := range lags {
				assert.Less(t, lag, sink.DefaultFlushEvery+400*time.Millisecond, "line %d", i)
			}
			allDone(t, rs)
		})
	}
}
