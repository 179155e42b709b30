package textsink_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// Bad lines go to the dead letters as they were read, bytes that are not
// UTF-8 in base64; a longer line would be cut at MaxRaw bytes.
func ExampleDeadLetters() {
	type order struct{ ID int }
	in := "{\"ID\":1}\nnot json\n\xff\xfe\n"
	var rejects syncbuf.Buffer
	st := pipeline.New(textsrc.Lines(strings.NewReader(in), "orders.jsonl"),
		pipeline.OnError(textsink.DeadLetters(&rejects, textsink.MaxRaw(1<<10)))).
		Via(textsrc.DecodeJSON[order]()).Sink(sink.Discard[order]()).Run(context.Background())
	fmt.Println(st.Counts.DeadLettered, "dead letters")

	sc := bufio.NewScanner(strings.NewReader(rejects.String()))
	for sc.Scan() {
		var r textsink.Rejected
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			panic(err)
		}
		b, _ := r.RawBytes()
		fmt.Printf("%s raw %q encoding %q: %q\n", r.Item, r.Raw, r.Encoding, b)
	}
	// Output:
	// 2 dead letters
	// orders.jsonl:2 raw "not json" encoding "": "not json"
	// orders.jsonl:3 raw "//4=" encoding "base64": "\xff\xfe"
}
