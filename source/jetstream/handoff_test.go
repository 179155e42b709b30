package jetstream

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheHandOffHoldsAtMostItsLimitAndGivesAWholeBatch(t *testing.T) {
	const limit = 4
	h := newHandoff(limit)
	rs := make([]receipt, limit+1)
	stop := make(chan struct{})
	for i := range limit {
		require.True(t, h.put(&rs[i], stop))
	}
	put := make(chan bool)
	go func() { put <- h.put(&rs[limit], stop) }()
	select {
	case <-put:
		t.Fatal("the hand-off took more than its limit")
	case <-time.After(50 * time.Millisecond):
	}
	got := h.take(context.Background(), nil)
	assert.Len(t, got, limit, "one take, the whole batch")
	assert.True(t, <-put, "room made: the waiting put goes on")
	assert.Len(t, h.take(context.Background(), got), 1)

	// A put waiting for room gives up at the stop, without taking.
	for i := range limit {
		require.True(t, h.put(&rs[i], stop))
	}
	go func() { put <- h.put(&rs[limit], stop) }()
	close(stop)
	assert.False(t, <-put)
	h.close()
	assert.Len(t, h.take(context.Background(), nil), limit)
	assert.Nil(t, h.take(context.Background(), nil), "closed and empty")
}

func TestHoldingAndSettlingCostsNoAllocationOnceTheSlabsGoRound(t *testing.T) {
	ss := &session[int]{}
	ss.held.owner, ss.held.tally = ss, &ss.tally
	var c cursor
	batch := make([]*receipt, 0, 4*slabSize)
	cycle := func() {
		for range cap(batch) {
			r := ss.held.next(&c)
			ss.held.hold(r)
			batch = append(batch, r)
		}
		for _, r := range batch {
			require.True(t, r.take())
			ss.held.release(r)
		}
		batch = batch[:0]
	}
	cycle() // makes the slabs
	allocs := testing.AllocsPerRun(20, cycle) / float64(cap(batch))
	t.Logf("%.4f allocations per message", allocs)
	assert.Less(t, allocs, 0.01)
}

func TestEveryHandlerWaitingForRoomGoesOn(t *testing.T) {
	// Two handlers wait while a Consume closes as the next one opens: one
	// take must not wake only one of them, or the other waits for ever
	// while the generator waits for what it holds.
	h := newHandoff(1)
	rs := make([]receipt, 3)
	stop := make(chan struct{})
	require.True(t, h.put(&rs[0], stop))
	put := make(chan bool, 2)
	go func() { put <- h.put(&rs[1], stop) }()
	go func() { put <- h.put(&rs[2], stop) }()
	time.Sleep(50 * time.Millisecond) // both wait, most likely: else the test passes without telling
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var got []*receipt
	for len(got) < 3 {
		rs := h.take(ctx, nil)
		require.NotNil(t, rs, "a handler still waits for room, holding its message")
		got = append(got, rs...)
	}
	assert.True(t, <-put)
	assert.True(t, <-put)
}
