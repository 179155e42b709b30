package sink_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/internal/settletest"
	"github.com/conveyor-go/conveyor/source"
)

// store is a sink.Writer of item ids that checks, as it writes each item,
// that the item's receipt has not settled yet, and records how many items
// a flush or the commit had stored when each receipt settled.
type store struct {
	rs []*settletest.Receipt

	mu       sync.Mutex // the test reads while the run goes
	written  int
	stored   int // items flushed or committed
	flushes  int
	problems []string
	failAt   int // the flush that fails, counting from 1, or 0
}

func (s *store) Write(_ context.Context, id int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.rs[id].Settled():
		s.problems = append(s.problems, fmt.Sprintf("item %d settled before its Write", id))
	default:
	}
	s.written++
	return nil
}

func (s *store) Commit(context.Context) error { s.store(); return nil }
func (s *store) Abort() error                 { return nil }

func (s *store) store() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = s.written
}

// storedAt returns how many items had been stored (after Write for a
// durable store).
func (s *store) storedAt() (stored, flushes int, problems []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored, s.flushes, append([]string(nil), s.problems...)
}

// durable stores each item as it writes it.
type durable struct{ *store }

func (d durable) Durable() bool { return true }
func (d durable) Write(ctx context.Context, id int) error {
	err := d.store.Write(ctx, id)
	d.store.store()
	return err
}

// flusher stores the items written so far when it flushes.
type flusher struct{ *store }

func (f flusher) Flush(context.Context) error {
	f.mu.Lock()
	f.flushes++
	fail := f.flushes == f.failAt
	f.mu.Unlock()
	if fail {
		return errors.New("device gone")
	}
	f.store.store()
	return nil
}

// settledAfterStore is a settletest after function: it waits until item
// i's receipt has settled, and checks that the writer had stored it then.
func settledAfterStore(rs []*settletest.Receipt, s *store) func(context.Context, int) error {
	wait := settletest.SettleEvery(rs, 1, 5*time.Second)
	return func(ctx context.Context, i int) error {
		if err := wait(ctx, i); err != nil {
			return err
		}
		if stored, _, _ := s.storedAt(); stored <= i {
			return fmt.Errorf("item %d settled when %d items were stored", i, stored)
		}
		return nil
	}
}

func TestADurableWritersItemsSettleAsEachWriteReturns(t *testing.T) {
	rs := settletest.Receipts(20)
	s := &store{rs: rs}
	open := func(context.Context) (sink.Writer[int], error) { return durable{s}, nil }
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, settledAfterStore(rs, s))).
		Sink(sink.New("durable", open)).Run(t.Context())

	require.True(t, st.OK(), st.Message)
	_, _, problems := s.storedAt()
	assert.Empty(t, problems)
	allDone(t, rs)
}

func TestAFlushersItemsSettleWhenItFlushes(t *testing.T) {
	rs := settletest.Receipts(20)
	s := &store{rs: rs}
	open := func(context.Context) (sink.Writer[int], error) { return flusher{s}, nil }
	start := time.Now()
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, settledAfterStore(rs, s))).
		Sink(sink.New("flusher", open, sink.FlushEvery(10*time.Millisecond))).Run(t.Context())

	require.True(t, st.OK(), st.Message)
	_, flushes, problems := s.storedAt()
	assert.Empty(t, problems)
	assert.Equal(t, 20, flushes, "the source waits for each item: a flush each")
	allDone(t, rs)
	t.Logf("20 items, each waiting for its flush, in %v", time.Since(start))
}

func TestAWriterThatIsNeitherSettlesWhenItCommits(t *testing.T) {
	rs := settletest.Receipts(20)
	s := &store{rs: rs}
	committed := func(_ context.Context, i int) error {
		select {
		case <-rs[i].Settled():
			return fmt.Errorf("item %d settled before the commit", i)
		default:
			return nil
		}
	}
	open := func(context.Context) (sink.Writer[int], error) { return s, nil }
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, committed)).
		Sink(sink.New("store", open)).Run(t.Context())

	require.True(t, st.OK(), st.Message)
	allDone(t, rs)
}

func TestAFailedFlushFailsTheRunAndSettlesNothingMore(t *testing.T) {
	rs := settletest.Receipts(20)
	s := &store{rs: rs, failAt: 2}
	open := func(context.Context) (sink.Writer[int], error) { return flusher{s}, nil }
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, settledAfterStore(rs, s))).
		Sink(sink.New("flusher", open, sink.FlushEvery(time.Millisecond))).Run(t.Context())

	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Contains(t, st.Message, `"flusher"`)
	assert.Contains(t, st.Message, `item "flush": device gone`)
	calls, o := rs[0].Calls()
	assert.Equal(t, 1, calls)
	assert.Equal(t, source.Done, o, "the first flush stored item 0")
	calls, _ = rs[1].Calls()
	assert.Zero(t, calls, "the failed flush did not store item 1: its source delivers it again")
}

func TestFlushEveryMustBePositive(t *testing.T) {
	open := func(context.Context) (sink.Writer[int], error) { return &store{}, nil }
	st := pipeline.New(source.Slice([]int{1})).Sink(sink.New("s", open, sink.FlushEvery(0))).Run(t.Context())
	assert.Equal(t, pipeline.CodeInvalid, st.Code)
	assert.Contains(t, st.Message, "flush interval must be positive, got 0s")
}

// allDone checks that every receipt settled once, Done.
func allDone(t *testing.T, rs []*settletest.Receipt) {
	t.Helper()
	for i, r := range rs {
		calls, o := r.Calls()
		assert.Equal(t, 1, calls, "item %d", i)
		assert.Equal(t, source.Done, o, "item %d", i)
	}
}
