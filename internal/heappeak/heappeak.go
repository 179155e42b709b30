// Package heappeak samples the heap while something runs, for the memory
// benchmarks and the examples that report their peak heap.
package heappeak

import (
	"runtime/metrics"
	"sync"
	"time"
)

// Start samples the heap every millisecond until stop is called, and stop
// returns the largest samples of two runtime/metrics:
//
//   - /memory/classes/heap/objects:bytes, the bytes of heap objects, live
//     or garbage not yet swept: what the heap holds, which swings up to
//     the garbage collector's goal between cycles;
//   - /gc/heap/live:bytes, the bytes the last cycle marked live: what the
//     program retains, whatever it allocates in between.
func Start() (stop func() (objects, live uint64)) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var objects, live uint64
	read := func() {
		metrics.Read(sample)
		objects = max(objects, sample[0].Value.Uint64())
		live = max(live, sample[1].Value.Uint64())
	}
	read()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				read()
			case <-done:
				read()
				return
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return objects, live
	}
}
