package stage_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// Map runs a function on each item, in order, in the goroutine of the stage
// before it.
func ExampleMap() {
	shout := stage.Map(func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s) + "!", nil
	})
	var got []string
	st := pipeline.New(source.Slice([]string{"hello", "conveyor"})).
		Via(shout).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	fmt.Println(got, st.Code, st.Message)
	// Output: [HELLO! CONVEYOR!] 0 Success
}

// An ordered ParMap runs the handler on several goroutines and still emits
// results in input order.
func ExampleParMap() {
	square := stage.Func(func(_ context.Context, n int) (int, error) { return n * n, nil })
	var got []int
	st := pipeline.New(source.Slice([]int{1, 2, 3, 4, 5, 6, 7, 8})).
		Via(stage.ParMap(4, square, stage.Ordered())).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	fmt.Println(got, st.Counts.Done)
	// Output: [1 4 9 16 25 36 49 64] 8
}

// Batch groups items into slices; the last one may be shorter.
func ExampleBatch() {
	var got [][]string
	pipeline.New(source.Slice([]string{"a", "b", "c", "d", "e"})).
		Via(stage.Batch[string](2)).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	fmt.Println(got)
	// Output: [[a b] [c d] [e]]
}

// Chain joins typed stages into one reusable stage; a failure inside it
// names the inner stage.
func ExampleChain() {
	parse := stage.Map(func(_ context.Context, s string) (int, error) {
		var n int
		_, err := fmt.Sscanf(s, "%d", &n)
		return n, err
	}, stage.Name("parse"))
	double := stage.Map(func(_ context.Context, n int) (int, error) { return 2 * n, nil }, stage.Name("double"))
	parseAndDouble := stage.Chain(parse, double)

	var got []int
	st := pipeline.New(source.Slice([]string{"1", "2", "x", "4"})).
		Via(parseAndDouble).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	fmt.Println(got)
	fmt.Println(st.Code, st.Stage, st.Target)
	// Output:
	// [2 4]
	// 1 parse+double/parse #2
}
