package flow

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChunksGetReturnsAnEmptyChunkOfTheSizeAskedFor(t *testing.T) {
	p := NewChunks[int](2)
	c := p.Get(8)
	require.NotNil(t, c)
	assert.Zero(t, c.Len())
	assert.Equal(t, 8, cap(c.Vs))
	assert.Equal(t, 8, cap(c.Ts))
	assert.Zero(t, c.First)
	assert.Zero(t, c.N)
	assert.NotSame(t, c, p.Get(8), "with none free, each Get makes its own chunk")
}

func TestChunksPutDropsReferencesToItems(t *testing.T) {
	p := NewChunks[*int](1)
	c := p.Get(4)
	for i := range 4 {
		c.Add(&i, One().Split(2)) // a tag with a FlatMap group: a reference too
	}
	c.First, c.N = 100, 4
	c.Open()
	_, _ = c.Claim()
	vs, ts := c.Vs[:cap(c.Vs)], c.Ts[:cap(c.Ts)]

	p.Put(c)
	for i := range vs {
		assert.Nil(t, vs[i], "item %d is still referenced by the chunk's array", i)
		assert.Equal(t, Tag{}, ts[i], "tag %d is still referenced by the chunk's array", i)
	}
	assert.Zero(t, c.Len())
	assert.Zero(t, c.First, "First is reset")
	assert.Zero(t, c.N, "N is reset")
	_, ok := c.Claim()
	assert.False(t, ok, "nothing is left to claim in a recycled chunk")

	again := p.Get(4)
	assert.Same(t, c, again, "a chunk Put is the next one Get returns")
	assert.Equal(t, 4, cap(again.Vs), "its arrays are kept")
}

func TestChunksPutOnAFullListDoesNotBlock(t *testing.T) {
	p := NewChunks[int](1)
	a, b := p.Get(8), p.Get(8)
	done := make(chan struct{})
	go func() {
		p.Put(a)
		p.Put(b) // the list keeps one: b is left to the garbage collector
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Put blocked on a full free list")
	}
	assert.Same(t, a, p.Get(8))
}

func TestChunksRecycleWithoutAllocating(t *testing.T) {
	p := NewChunks[int](1)
	p.Put(p.Get(8)) // warm: one chunk in the list
	allocs := testing.AllocsPerRun(1000, func() {
		c := p.Get(8)
		for i := range 64 {
			c.Add(i, One())
		}
		p.Put(c)
	})
	assert.Zero(t, allocs)
}

func TestChunkClaimAndStealShareTheItemsExactlyOnce(t *testing.T) {
	t.Run("alone, the worker claims every item in order", func(t *testing.T) {
		c := &Chunk[int]{}
		for i := range 5 {
			c.Add(i, One())
		}
		c.Open()
		for want := range 5 {
			i, ok := c.Claim()
			require.True(t, ok)
			assert.Equal(t, want, i)
		}
		_, ok := c.Claim()
		assert.False(t, ok)
		assert.Equal(t, 5, c.End())
	})

	t.Run("a thief takes the second half of what is unclaimed", func(t *testing.T) {
		c := &Chunk[int]{First: 100}
		for i := range 10 {
			c.Add(i, One())
		}
		c.Open()
		_, _ = c.Claim() // the worker runs item 0; 1..9 are unclaimed
		into := &Chunk[int]{}
		require.True(t, c.Steal(into))
		assert.Equal(t, []int{5, 6, 7, 8, 9}, into.Vs)
		assert.Len(t, into.Ts, 5)
		assert.EqualValues(t, 105, into.First)
		assert.Equal(t, 5, into.N)
		assert.Equal(t, 5, c.End(), "the worker's items end where the thief's begin")
		c.Settle()
	})

	t.Run("nothing to steal once every item is claimed", func(t *testing.T) {
		c := &Chunk[int]{}
		c.Add(1, One())
		c.Open()
		_, _ = c.Claim()
		assert.False(t, c.Steal(&Chunk[int]{}))
	})

	t.Run("a worker and thieves racing run each item once", func(t *testing.T) {
		const n, thieves = 4_096, 3
		for range 20 {
			c := &Chunk[int]{}
			for i := range n {
				c.Add(i, One())
			}
			c.Open()
			seen := make([]int32, n)
			var mu sync.Mutex
			run := func(c *Chunk[int]) {
				for {
					i, ok := c.Claim()
					if !ok {
						return
					}
					mu.Lock()
					seen[c.First+int64(i)]++
					mu.Unlock()
				}
			}
			var wg sync.WaitGroup
			for range thieves {
				wg.Go(func() {
					for {
						into := &Chunk[int]{}
						if !c.Steal(into) {
							return
						}
						into.Open()
						run(into)
					}
				})
			}
			run(c)
			c.Settle()
			wg.Wait()
			for i, k := range seen {
				require.EqualValues(t, 1, k, "item %d ran %d times", i, k)
			}
		}
	})
}

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
