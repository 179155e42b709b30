package flow

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowBoundsWhatIsHeld(t *testing.T) {
	const size, rounds = 5, 20_000
	w := NewWindow(size, 1)
	held := make(chan int, size)
	var mu sync.Mutex
	inside, most := 0, 0
	var wg sync.WaitGroup
	wg.Go(func() {
		for range rounds {
			n := <-held
			mu.Lock()
			inside -= n
			mu.Unlock()
			w.Release(n)
		}
	})
	for i := range rounds {
		n := 1 + i%3
		require.NoError(t, w.Acquire(context.Background(), n))
		mu.Lock()
		inside += n
		most = max(most, inside)
		mu.Unlock()
		held <- n
	}
	wg.Wait()
	assert.LessOrEqual(t, most, size)
	assert.Equal(t, size, w.free, "every place came back")
}

func TestWindowAcquireStopsWithItsContext(t *testing.T) {
	w := NewWindow(2, 1)
	require.NoError(t, w.Acquire(context.Background(), 2))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, w.Acquire(ctx, 1), context.DeadlineExceeded)
	assert.Equal(t, 0, w.free, "a failed Acquire takes nothing")
	w.Release(2)
	assert.NoError(t, w.Acquire(context.Background(), 2))
}

func TestWindowAllocatesNothing(t *testing.T) {
	w := NewWindow(4, 1)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		_ = w.Acquire(ctx, 3)
		w.Release(3)
	})
	assert.Zero(t, allocs)
}

// TestWindowWakesEveryWaiter has several goroutines acquire and release
// places of a small window; a lost wakeup leaves them all waiting with
// places free, and the test times out.
func TestWindowWakesEveryWaiter(t *testing.T) {
	for _, acquirers := range []int{1, 2, 8} {
		w := NewWindow(1, acquirers)
		var wg sync.WaitGroup
		for range acquirers {
			wg.Go(func() {
				for range 5_000 {
					require.NoError(t, w.Acquire(context.Background(), 1))
					w.Release(1)
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%d acquirers: stuck, %d places free, %d waiting", acquirers, w.free, w.waiting)
		}
		assert.Equal(t, 1, w.free)
	}
}
