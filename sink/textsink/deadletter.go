package textsink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/conveyor-go/conveyor/stage"
)

// Raw is implemented by items that keep the text they were read from
// (textsrc.Line and textsrc.Record), which DeadLetters writes as it was.
type Raw interface{ Raw() string }

// Rejected is one line DeadLetters writes: a failed item, where it failed
// and why.
type Rejected struct {
	Stage string `json:"stage"`
	Item  string `json:"item"`  // its label: "orders.csv:17" for a textsrc input
	Error string `json:"error"` // the error that sank it, naming stage, item and cause
	Raw   string `json:"raw"`   // the item's text as read, or its %v
}

// DeadLetters is a dead-letter policy that writes each failed item to w as
// one JSON line (a Rejected), so that a job goes on past bad input and the
// bad rows can be read, fixed and fed again. Calls are serialized by the
// run; w is not closed. An error writing to w stops the run.
//
//	rejects, _ := os.Create("rejects.jsonl")
//	defer rejects.Close()
//	p := pipeline.New(src, pipeline.OnError(textsink.DeadLetters(rejects)))
func DeadLetters(w io.Writer) stage.Policy {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
		r := Rejected{Stage: d.Stage, Item: d.Label, Error: d.Err.Error()}
		if raw, ok := d.Item.(Raw); ok {
			r.Raw = raw.Raw()
		} else {
			r.Raw = fmt.Sprintf("%v", d.Item)
		}
		return enc.Encode(r)
	})
}
