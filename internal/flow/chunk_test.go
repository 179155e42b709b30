package flow

import (
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
