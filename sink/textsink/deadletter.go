package textsink

import (
	"context"
	"encoding/base64"
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

// Truncated is implemented by items whose Raw text may be only the head of
// what was read (textsrc's item for a line over its limit): DeadLetters
// flags the dead letter of one that says true as truncated.
type Truncated interface{ Truncated() bool }

// Rejected is one line DeadLetters writes: a failed item, where it failed
// and why, and the evidence: the item's bytes, as exact as they can be,
// and at most MaxRaw of them.
//
// Raw holds the item's text as it was read (an item with a Raw method, a
// string, a []byte) when that is valid UTF-8, and Encoding is empty. Text
// that is not valid UTF-8 is kept byte for byte in base64 (the standard
// encoding, padded), Encoding "base64". An item that is not text is
// encoded with encoding/json, Encoding "json" (a struct whose fields are
// all unexported gives {}: give its type a Raw method), or, if JSON cannot
// encode it, is its fmt %v, Encoding "go". RawBytes decodes Raw.
//
// Raw keeps the first MaxRaw bytes of the item's text, cut on a rune
// boundary for text and before encoding for base64; the JSON line holds
// them escaped, each '"' or '\' as two bytes, each control character as
// up to six. A cut sets Truncated and Size. Error and Item are cut at 4 KiB,
// ending with "... (cut from N bytes)".
type Rejected struct {
	Stage string `json:"stage"`
	Item  string `json:"item"`  // its label: "orders.csv:17" for a textsrc input
	Error string `json:"error"` // the error that sank it, naming stage, item and cause
	Raw   string `json:"raw"`   // the item's bytes: its text, base64, JSON or %v, as Encoding says

	// Encoding says how Raw holds the item: "" (absent) for its text as
	// it was, "base64" for bytes that are not valid UTF-8, "json" or "go"
	// for an item that is not text.
	Encoding string `json:"encoding,omitempty"`
	// Truncated says that Raw is only the head of the item: cut at MaxRaw,
	// or an item whose Truncated method said so.
	Truncated bool `json:"truncated,omitempty"`
	// Size is, when Truncated, how many bytes the item's text had before
	// the cut (its JSON for "json", not its base64 for "base64"). For an
	// item that came truncated that is the head it kept, a lower bound.
	Size int `json:"size,omitempty"`
}

// RawBytes returns the bytes Raw stands for: Raw decoded from base64 when
// Encoding is "base64", otherwise Raw itself.
func (r Rejected) RawBytes() ([]byte, error) {
	if r.Encoding == encBase64 {
		return base64.StdEncoding.DecodeString(r.Raw)
	}
	return []byte(r.Raw), nil
}

// DeadLetters is a dead-letter policy that writes each failed item to w as
// one JSON line (a Rejected), so that a job goes on past bad input and the
// bad rows can be read, fixed and fed again. Calls are serialized by the
// run; w is not closed. An error writing to w stops the run.
//
// A line is bounded whatever the item: Raw keeps at most MaxRaw bytes of
// it (DefaultMaxRaw, 64 KiB), Error and Item at most 4 KiB each; a failed
// SQL batch of 10,000 rows of 140 bytes of JSON each makes a line of
// 76 KB. An item that is not text is encoded whole before it is cut, so
// its dead letter costs its JSON in memory for a moment.
//
// When w has a Sync method (an *os.File), each dead letter is synced
// before the policy returns, so an item is settled as dead-lettered (a
// queue's message terminated) only once its line is on disk; a w that
// cannot be synced (a pipe, a terminal: EINVAL) is written to all the
// same. Each dead letter then costs an fsync: dead letters are meant to be
// few. At a crash a dead letter synced whose item was not yet settled is
// written again when the item comes again.
//
// A nil w or an invalid option (MaxRaw(0)) makes the policy invalid: a
// pipeline using it reports why (code 2) before anything runs.
//
//	rejects, _ := os.Create("rejects.jsonl")
//	defer rejects.Close()
//	p := pipeline.New(src, pipeline.OnError(textsink.DeadLetters(rejects)))
func DeadLetters(w io.Writer, opts ...DeadLetterOption) stage.Policy {
	cfg := collectDeadLetter(opts)
	switch {
	case w == nil:
		return stage.InvalidPolicy("textsink.DeadLetters: nil writer")
	case cfg.maxRaw <= 0:
		return stage.InvalidPolicy(fmt.Sprintf("textsink.DeadLetters: MaxRaw must be positive, got %d", cfg.maxRaw))
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
		r := Rejected{Stage: d.Stage, Item: capText(d.Label), Error: capText(d.Err.Error())}
		r.evidence(d.Item, cfg.maxRaw)
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
