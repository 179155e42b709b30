// Package textsink writes a pipeline's items as text: lines, JSON Lines or
// CSV, to any io.Writer or to a file.
//
// Output is buffered and flushed when the input ends: when the run
// finishes, and when it drains after a first signal. A file is written
// atomically: into a temporary file beside it, renamed over the path only
// when the input ends, and removed when the run ends any other way, so a
// failed run leaves no half-written file and an older file at the path
// stays as it was.
//
//	pipeline.New(src).Via(enrich).Sink(textsink.JSONLFile[Order]("orders.jsonl"))
package textsink
