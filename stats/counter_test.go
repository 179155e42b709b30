package stats_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/conveyor-go/conveyor/stats"
)

const (
	goroutines = 64
	perG       = 10_000
)

func TestCounterZeroValueUsable(t *testing.T) {
	var c stats.Counter
	assert.Equal(t, int64(0), c.Load())
	assert.Equal(t, int64(5), c.Add(5))
	assert.Equal(t, int64(2), c.Add(-3))
	c.Set(42)
	assert.Equal(t, int64(42), c.Load())
}

func TestCounterConcurrentAddExact(t *testing.T) {
	var c stats.Counter
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range perG {
				c.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*perG), c.Load())
}

func BenchmarkCounterAdd(b *testing.B) {
	var c stats.Counter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1)
		}
	})
}
