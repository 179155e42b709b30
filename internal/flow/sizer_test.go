package flow

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSizerStartsAtOneItem(t *testing.T) {
	assert.Equal(t, 1, NewSizer(64).Target(), "nothing measured yet: one item per chunk")
}

func TestSizerFollowsTheCostOfAnItem(t *testing.T) {
	cases := []struct {
		name string
		max  int
		n    int
		d    time.Duration
		want int
	}{
		{"64 items of 1µs fit the budget whole", 64, 64, 64 * time.Microsecond, 64},
		{"items of 1µs would make chunks of 100, capped at max", 64, 10, 10 * time.Microsecond, 64},
		{"a smaller max caps it too", 16, 64, 64 * time.Microsecond, 16},
		{"items of 25µs make chunks of 4", 64, 8, 200 * time.Microsecond, 4},
		{"an item of exactly the budget travels alone", 64, 1, ChunkBudget, 1},
		{"an item of 1ms travels alone", 64, 1, time.Millisecond, 1},
		{"64 items of 1ms travel alone", 64, 64, 64 * time.Millisecond, 1},
		{"no time measured gives max", 64, 64, 0, 64},
		{"no time measured, max 1", 1, 5, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSizer(c.max)
			s.Observe(c.n, c.d)
			assert.Equal(t, c.want, s.Target())
		})
	}

	t.Run("it follows the latest measurement both ways", func(t *testing.T) {
		s := NewSizer(64)
		s.Observe(64, 64*time.Microsecond)
		require.Equal(t, 64, s.Target())
		s.Observe(1, time.Millisecond)
		require.Equal(t, 1, s.Target())
		s.Observe(4, 0)
		assert.Equal(t, 64, s.Target())
	})
}

func TestSizerStaysWithinOneAndMax(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		maxSize := 1 + r.IntN(128)
		s := NewSizer(maxSize)
		n := 1 + r.IntN(256)
		d := time.Duration(r.Int64N(int64(10 * time.Second)))
		if r.IntN(4) == 0 {
			d = time.Duration(r.IntN(1000)) // a few ns: the fastest items
		}
		s.Observe(n, d)
		got := s.Target()
		require.GreaterOrEqual(t, got, 1, "max %d, %d items in %v", maxSize, n, d)
		require.LessOrEqual(t, got, maxSize, "max %d, %d items in %v", maxSize, n, d)
	}
}

func TestSizerIsSafeForConcurrentUse(t *testing.T) {
	s := NewSizer(64)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10_000 {
				s.Observe(1+i%64, time.Duration(w*i%200)*time.Microsecond)
			}
		})
	}
	for range 10_000 {
		got := s.Target()
		require.True(t, got >= 1 && got <= 64, "target %d", got)
	}
	wg.Wait()
}
