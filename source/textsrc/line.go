package textsrc

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/conveyor-go/conveyor/source"
)

// Line is one line of a text input, without its line ending.
type Line struct {
	File string // the input's name: the path for LinesFile
	N    int    // the line's number, counting from 1
	Text string // the line, without "\n" or "\r\n"
}

// Where names the line as "file:N", the label the decode stages give it in
// errors and logs.
func (l Line) Where() string { return l.File + ":" + strconv.Itoa(l.N) }

// Lines emits the lines of r, in order, each named name in Line.File and in
// errors. The line ending, "\n" or "\r\n", is trimmed; a last line without
// one is emitted too, and an empty input emits nothing. A UTF-8 byte order
// mark at the start is skipped.
//
// A line is at most MaxLineBytes long, line ending excluded: 16 MiB by
// default. A longer one is not held: the source reads on to its end,
// dropping its bytes, and hands it to the pipeline's error policy (see
// source.Reject) as an Oversized, which keeps its first 4 KiB, with a
// *LineError naming "file:line" that matches ErrLineTooLong: "in.txt:7:
// line is longer than 16 MiB (MaxLineBytes)". Under Skip or a dead-letter
// policy the source goes on with the next line, numbered on; under
// FailFast the run fails (code 1). MaxBytes caps the whole input, counted
// after decompression: past the cap the run fails, whatever the policy,
// with a *LineError that matches ErrInputTooLarge. The source holds at
// most MaxLineBytes+2 bytes of a line besides its 64 KiB buffers, whatever
// its input: a 2 GiB line, a 1 GiB JSON document or a gzip file of 4 MB
// that inflates to one line of 4 GiB each took 43 MiB of peak RSS, 34 MiB
// above a run of a two-line input, the bomb 1s to read to its end.
//
// When r is a regular *os.File, the source checks at the end of the input
// that the file is not shorter than the offset it read up to: one
// truncated while it was read ends early, and its last line, whole or not,
// is handed to the policy as for a line too long, with an error that
// matches ErrFileShrank: "big.txt:12775: file shrank from 65536 to 0
// bytes". (A file that grows is read on as it grows.)
//
// The input is decompressed when it starts with the gzip magic bytes; Gzip
// and NoGzip force the choice. An input that is not the gzip stream it
// claims to be fails the run with an error naming it; lines read before
// the fault are emitted. Telling whether the input is gzip waits for no
// more bytes than it takes: a live input's first line comes as soon as it
// is written.
//
// Lines reads r and does not close it. A second run of the pipeline goes
// on where the first stopped, with the line after the last one the first
// emitted, numbered on from it: the source keeps what it read ahead, and
// the start of a line a stop cut, from one run to the next. Runs of the
// same source take turns at r. A gzip stream cannot be read on after a stop
// cut a read of it (compress/gzip keeps the error): a next run fails,
// saying so.
//
// A stop never waits for input. When the run stops hard (a second signal,
// a cancelled context, a failure) or drains (the first signal), a read
// blocked in r ends within milliseconds and the source emits nothing more,
// so that Run returns within 1s of a hard stop, and a drain ends as soon as
// the items already emitted are done. How depends on r:
//
//   - A *strings.Reader, *bytes.Reader, *bytes.Buffer or regular file never
//     waits, and is read as it is.
//   - A pipe, FIFO, terminal or socket, such as os.Stdin: an *os.File that
//     the runtime polls (os.Pipe's ends) gets a read deadline in the past
//     at the stop, cleared when the run ends. One it does not poll (os.Stdin,
//     or any descriptor a process inherits in blocking mode) is read through
//     a duplicate of its descriptor in non-blocking mode, which the runtime
//     polls, with a deadline. The mode belongs to the open file description,
//     which the descriptor shares with whoever else holds it (the shell, for
//     a terminal): it is non-blocking while the run reads, and put back as
//     it was when the run ends. A process killed before (SIGKILL) leaves it
//     non-blocking, and the next program to read it may fail with EAGAIN.
//     (On systems other than Linux, macOS and the BSDs, and for a device
//     the runtime cannot poll, such a file is read as any other io.Reader.)
//   - Another reader with a SetReadDeadline method (a net.Conn) gets a read
//     deadline at the stop, cleared when the run ends.
//   - Any other io.Reader is the one exception: nothing can interrupt its
//     Read. Lines reads it in a goroutine of its own, a 64 KiB buffer ahead
//     of the lines it emits (this costs a channel handoff and a copy per
//     buffer, not per line). A stopped run waits at most 100ms for a Read
//     blocked in it, then returns and leaves that one goroutine behind:
//     ExitStatus.LeftBehind counts it, its Message and report say so, and
//     the run's log names the reader. The goroutine ends once its Read
//     returns; what that Read gives is kept for the next run.
func Lines(r io.Reader, name string, opts ...Option) *source.Of[Line] {
	cfg, bad := collect("lines", name, opts)
	if bad != "" {
		return source.Invalid[Line]("lines", bad)
	}
	f := newFeed(r, name)
	return source.Func(func(ctx context.Context, yield func(Line) bool) error {
		return readLines(ctx, f, cfg, yield)
	}).Named("lines")
}

// LinesFile emits the lines of the file at path, as Lines does, with the
// path as the lines' File. The file is opened when the run starts, so each
// run reads it anew, and closed when the source ends; an error opening it
// fails the run and names the path. Its lines are held to MaxLineBytes,
// its input to MaxBytes, and a regular file found shorter than what was
// read of it at the end is rejected, as for Lines.
//
// A stop ends a read that waits for input, as for Lines. Opening a FIFO
// waits until a writer opens it too: a stop ends that wait by opening the
// FIFO for writing, without waiting, and closing it at once (other readers
// of the FIFO see that writer come and go). Opening or reading a regular
// file does not wait for input; on a network file system that hangs, the
// OS gives no way out of it.
func LinesFile(path string, opts ...Option) *source.Of[Line] {
	cfg, bad := collect("lines", path, opts)
	if bad != "" {
		return source.Invalid[Line]("lines", bad)
	}
	return source.Func(func(ctx context.Context, yield func(Line) bool) error {
		return withFile(ctx, path, func(f *os.File) error {
			return readLines(ctx, newFeed(f, path), cfg, yield)
		})
	}).Named("lines")
}

// readLines is the generator of Lines and LinesFile.
func readLines(ctx context.Context, f *feed, cfg config, yield func(Line) bool) error {
	done, err := f.take(ctx)
	if err != nil {
		return err
	}
	defer done()
	in, err := f.open(cfg)
	if err != nil {
		return stopped(ctx, err)
	}
	for {
		text, long, err := f.readLine(in, cfg.maxLine)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The end, or a gzip stream that ends early: a file that
			// shrank under the source ends so too.
			if serr := f.src.shrank(); serr != nil {
				return rejectShrunk(ctx, f, text, long, serr)
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			// The part of the line read is kept for a next run: emit none of it.
			return stopped(ctx, &LineError{File: f.name, Line: f.n + 1, Err: in.readErr(err)})
		}
		if long != nil {
			f.n++
			o := f.oversized(long)
			if rerr := source.Reject(ctx, o, o.Where(), &LineError{File: f.name, Line: f.n, Err: errLineTooLong(cfg.maxLine)}); rerr != nil || err != nil {
				return rerr // the policy failed the run, or the input ends
			}
			continue
		}
		if text == "" { // at the end of the input
			return nil
		}
		f.n++
		if !yield(Line{File: f.name, N: f.n, Text: trimEOL(text)}) || err != nil {
			return nil
		}
	}
}

// rejectShrunk rejects, with err, the line at which the input of f ended
// because its file shrank: what was read of it (text, or the start of it
// that f kept, or what it kept of a long line), which may be nothing. It
// returns Reject's error, or nil when the run goes on: the input ends
// there either way.
func rejectShrunk(ctx context.Context, f *feed, text string, long *longLine, err error) error {
	f.n++
	var item any
	if long == nil {
		long, f.long = f.long, nil // cut by a read that failed
	}
	if long != nil {
		item = f.oversized(long)
	} else {
		if text == "" {
			text = string(f.part)
			f.dropPart()
		}
		item = Line{File: f.name, N: f.n, Text: trimEOL(text)}
	}
	where := Line{File: f.name, N: f.n}.Where()
	return source.Reject(ctx, item, where, &LineError{File: f.name, Line: f.n, Err: err})
}

// trimEOL drops the "\n" or "\r\n" that ends s, and a "\r" that ends the
// input's last line, as bufio.ScanLines does.
func trimEOL(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// stopped returns err, or ctx's error when ctx is done: a read that failed
// because the run stopped (a deadline ended it) is no failure of the input.
func stopped(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// Raw returns the line's text, as read: what a dead-letter file keeps of it.
func (l Line) Raw() string { return l.Text }

// oversized is the item of the line too long that f has just counted,
// of which l is what it kept.
func (f *feed) oversized(l *longLine) Oversized {
	size, head := l.end()
	return Oversized{File: f.name, Line: f.n, Size: size, Head: head}
}
