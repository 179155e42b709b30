package textsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"

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
// When w has a Sync method (an *os.File), each dead letter is synced
// before the policy returns, so an item is settled as dead-lettered (a
// queue's message terminated) only once its line is on disk; a w that
// cannot be synced (a pipe, a terminal: EINVAL) is written to all the
// same. Each dead letter then costs an fsync: dead letters are meant to be
// few. At a crash a dead letter synced whose item was not yet settled is
// written again when the item comes again.
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
		if err := enc.Encode(r); err != nil {
			return err
		}
		return syncFile(w)
	})
}

// syncFile syncs w to disk if it can be: an *os.File that is a regular file.
func syncFile(w io.Writer) error {
	s, ok := w.(interface{ Sync() error })
	if !ok {
		return nil
	}
	err := s.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil // a pipe, a terminal, a device: nothing to sync
	}
	return err
}
