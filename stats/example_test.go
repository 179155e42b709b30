package stats_test

import (
	"fmt"

	"github.com/conveyor-go/conveyor/stats"
)

func ExampleRegistry() {
	r := stats.New()
	r.SetTotal("items_total", 4)

	// A hot loop keeps the *Counter instead of looking the name up per item.
	processed := r.Counter("items")
	for range 4 {
		processed.Add(1)
	}

	// A stage batches several counters and flushes them in one call.
	d := make(stats.Delta)
	d.Add("bytes", 512)
	d.Add("skipped", 1)
	r.AddAll(d)

	r.Set("workers", 2)

	fmt.Println(r.Get("items"), "of", r.Totals()["items_total"])
	fmt.Println(r.Snapshot("workers"))
	fmt.Println(r.Get("unknown"))
	// Output:
	// 4 of 4
	// bytes=512, items=4, items_total=4, skipped=1
	// 0
}
