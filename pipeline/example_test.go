package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
)

// The seed's job in one chain: batch the numbers, handle each batch on
// several workers, merge each batch's stat deltas.
func Example() {
	reg := stats.New()
	src := source.Func(func(_ context.Context, yield func(int) bool) error {
		reg.SetTotal("items_total", 10)
		for i := range 10 {
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
	h := stage.Func(func(_ context.Context, batch []int) (stats.Delta, error) {
		d := stats.Delta{"items_processed": 0, "items_even": 0}
		for _, n := range batch {
			d["items_processed"]++
			if n%2 == 0 {
				d["items_even"]++
			}
		}
		return d, nil
	})
	status := pipeline.New(src, pipeline.WithStats(reg)).
		Batch(2).
		ParMap(4, h).
		Sink(stats.Sink(reg)).
		Run(context.Background())

	fmt.Println(status.Code, status.Message)
	fmt.Println(status.Stats)
	// Output:
	// 0 Success
	// items_even=5, items_processed=10, items_total=10
}

// A failure names the stage and the item's label: the seed's target_error.
func Example_failFast() {
	h := stage.Func(func(_ context.Context, s string) (int, error) {
		if s == "" {
			return 0, errors.New("empty word")
		}
		return len(s), nil
	})
	words := []string{"alpha", "beta", "", "delta"}
	status := pipeline.New(source.Slice(words)).
		Map(h, stage.Name("length"), stage.Label(func(s string) string { return fmt.Sprintf("word %q", s) })).
		Sink(sink.Discard[int]()).
		Run(context.Background())

	fmt.Println(status.Code, status.Stage, status.Target)
	fmt.Println(status.Message)
	// Output:
	// 1 length word ""
	// stage 1 "length", item "word \"\"": empty word
}

// A type mismatch is found before anything runs.
func Example_invalid() {
	upper := stage.Func(func(_ context.Context, s string) (string, error) { return strings.ToUpper(s), nil })
	status := pipeline.New(source.Slice([]int{1, 2, 3})).
		Map(upper).
		Sink(sink.Discard[string]()).
		Run(context.Background())

	fmt.Println(status.Code)
	fmt.Println(status.Message)
	// Output:
	// 2
	// stage 1 "map": takes string, but stage 0 "slice" before it gives int
}

// Skip drops failing items and counts them; the run succeeds.
func ExampleOnError() {
	half := stage.Func(func(_ context.Context, n int) (int, error) {
		if n%2 != 0 {
			return 0, fmt.Errorf("%d is odd", n)
		}
		return n / 2, nil
	})
	var got []int
	status := pipeline.New(source.Slice([]int{2, 3, 4, 5, 6}), pipeline.OnError(stage.Skip())).
		ParMap(2, half, stage.Ordered()).
		Sink(sink.Collect(&got)).
		Run(context.Background())

	fmt.Println(status.Code, got, status.Counts.Skipped)
	fmt.Println(status.Message)
	// Output:
	// 0 [1 2 3] 2
	// Finished with 2 of 5 items skipped (stage 1 "parmap": 2)
}

// A failure budget stops a run that skips too much: here more than 10 of
// its items, so that a broken input or a table gone missing ends with code
// 1 instead of a success that did nothing.
func ExampleFailureBudget() {
	insert := stage.Func(func(_ context.Context, n int) (int, error) {
		return 0, errors.New("no such table: orders")
	})
	status := pipeline.New(source.Slice(make([]int, 1000)),
		pipeline.OnError(stage.Skip()),
		pipeline.FailureBudget(pipeline.MaxFailures(10), pipeline.MaxFailureRate(0.05, 1000))).
		Map(insert, stage.Name("insert")).
		Sink(sink.Discard[int]()).
		Run(context.Background())

	fmt.Println(status.Code)
	fmt.Println(status.Message)
	var be *pipeline.BudgetError
	fmt.Println(errors.As(status.Err, &be), be.Limit, be.Failed, status.Stage, status.Target)
	// Output:
	// 1
	// failure budget exceeded: 11 items failed (limit MaxFailures(10)); last: stage 1 "insert", item #10: no such table: orders
	// true MaxFailures(10) 11 insert #10
}
