package textsrc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// DecodeCSV fills structs from the header's columns. Under the Skip policy
// a row that does not decode is counted and the run goes on; under the
// default, FailFast, it stops the run, and the error names the input, the
// line and the column.
func ExampleDecodeCSV() {
	type Order struct {
		ID     string  `csv:"id"`
		Amount float64 `csv:"amount"`
	}
	const orders = "id,amount\nA1,12.50\nA2,\"12,5\"\nA3,7\n"

	var got []Order
	st := pipeline.New(textsrc.CSV(strings.NewReader(orders), "orders.csv")).
		Via(textsrc.DecodeCSV[Order](stage.OnError(stage.Skip()))).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	fmt.Println(got, st.Counts.Done, "done,", st.Counts.Skipped, "skipped")

	st = pipeline.New(textsrc.CSV(strings.NewReader(orders), "orders.csv")).
		Via(textsrc.DecodeCSV[Order]()).
		Sink(sink.Discard[Order]()).
		Run(context.Background())
	var fe *textsrc.FieldError
	if errors.As(st.Err, &fe) {
		fmt.Println(st.Code, st.Target)
		fmt.Println(fe)
	}
	// Output:
	// [{A1 12.5} {A3 7}] 2 done, 1 skipped
	// 1 orders.csv:3
	// orders.csv:3: field "amount": cannot parse "12,5" as float64: invalid syntax
}

// DecodeJSON decodes JSON Lines; SkipBlank drops blank lines before it.
func ExampleDecodeJSON() {
	type Event struct {
		ID   int    `json:"id"`
		Kind string `json:"kind"`
	}
	const events = "{\"id\":1,\"kind\":\"signup\"}\n\n{\"id\":2,\"kind\":\"login\"}\n"

	var got []Event
	st := pipeline.New(textsrc.Lines(strings.NewReader(events), "events.jsonl")).
		Via(textsrc.SkipBlank()).
		Via(textsrc.DecodeJSON[Event]()).
		Sink(sink.Collect(&got)).
		Run(context.Background())
	fmt.Println(got, st.Message, st.Counts.Dropped, "dropped")
	// Output: [{1 signup} {2 login}] Success 1 dropped
}

// Lines gives each line with where it comes from.
func ExampleLines() {
	st := pipeline.New(textsrc.Lines(strings.NewReader("first\r\nsecond"), "notes.txt")).
		Sink(sink.Func(func(_ context.Context, l textsrc.Line) error {
			fmt.Printf("%s %q\n", l.Where(), l.Text)
			return nil
		})).
		Run(context.Background())
	fmt.Println(st.Code)
	// Output:
	// notes.txt:1 "first"
	// notes.txt:2 "second"
	// 0
}
