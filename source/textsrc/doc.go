// Package textsrc holds building blocks for pipelines that read text files:
// sources of lines (Lines, LinesFile) and of CSV records (CSV, CSVFile), and
// stages that decode them (DecodeJSON, DecodeCSV, DecodeCSVMap).
//
// Every line and record knows where it comes from, "file:line", and the
// decode stages label items with it, so a failure names the line at fault
// in ExitStatus.Target and in the error, a *LineError or a *FieldError
// that errors.As finds in ExitStatus.Err:
//
//	type Order struct {
//		ID     string  `csv:"id"`
//		Amount float64 `csv:"amount"`
//	}
//
//	st := pipeline.New(textsrc.CSVFile("orders.csv")).
//		Via(textsrc.DecodeCSV[Order](stage.OnError(stage.Skip()))).
//		Sink(sink.Func(store)).
//		Run(ctx)
//	// st.Counts.Skipped rows did not decode.
//
// The sources decompress their inputs when they are gzip-compressed, and
// skip a UTF-8 byte order mark. They hold no line longer than MaxLineBytes
// (16 MiB by default): Lines and LinesFile reject such a line under the
// pipeline's error policy, naming it "file:line", and go on with the next
// where the policy lets the run go on, so that no input, not even a gzip
// bomb, makes them hold more memory than that. MaxBytes caps what an input
// may inflate to. A file truncated while it is read is an error too, not
// an early end. The sources never hold a stop: a drain or a hard stop ends a read that waits for
// input on stdin, a pipe, a FIFO, a terminal or a socket, and the open of a
// FIFO that waits for a writer (see Lines for how, and for the one
// exception, an arbitrary io.Reader blocked in its own Read). A
// malformed CSV row does not stop a CSV source: it becomes a Record with
// Err set, which the decode stages fail under their error policy, so that
// Skip, DeadLetter and FailFast apply to it as to any bad row. So does a
// row over a limit (MaxLineBytes, 16 MiB, or MaxFields, 100,000 fields, by
// default), which the source reads to its end without holding it. A row
// over several lines is named by its span, "orders.csv:3-6", and keeps its
// text as read (Record.Raw), an unclosed quote's included.
package textsrc
