// Package textsink writes a pipeline's items as text: lines, JSON Lines or
// CSV, to any io.Writer or to a file.
//
// A sink to an io.Writer (Lines, JSONL, CSV) is live: it writes through a
// 64 KiB buffer that it flushes a flush interval (FlushEvery, 100 ms by
// default) after the first line written since its last flush, whether the
// input goes on or goes idle, and when the input ends; so a stream job's
// output appears as it is made. The receipts of its items (a queue's
// messages) are settled at each flush, once their lines have reached the
// writer. At a crash, lines written out but not yet settled (a full buffer
// writes out early; a flush settles after its write) come again, with
// their items, when the queue delivers them again: a reader of the stream
// sees each line at least once. An io.Writer that is a file is not synced:
// the lines reach the operating system, not the disk.
//
// A file (LinesFile, JSONLFile, CSVFile) is written atomically: into a
// temporary file beside it, synced, renamed over the path only when the
// input ends, and the directory synced, so that the rename is on disk too
// before the receipts of its items are settled; the temporary file is
// removed when the run ends any other way, so a failed run leaves no
// half-written file and an older file at the path stays as it was. A
// crash before the directory is synced leaves the older file or the new
// one whole (and perhaps a stray temporary file beside it, named
// ".<name>.tmp-<number>"), and the source delivers every item again. The
// new file takes the mode of the file it replaces, or 0666 less the
// process's umask.
//
//	pipeline.New(src).Via(enrich).Sink(textsink.JSONLFile[Order]("orders.jsonl"))
//
// DeadLetters is an error policy rather than a sink: it writes each failed
// item as one JSON line (a Rejected) with the item's bytes as they were
// read, base64 where they are not UTF-8, and at most MaxRaw of them.
package textsink
