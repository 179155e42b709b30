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
// errors. A line may be of any length: it is read whole. The line ending,
// "\n" or "\r\n", is trimmed; a last line without one is emitted too, and an
// empty input emits nothing. A UTF-8 byte order mark at the start is
// skipped.
//
// The input is decompressed when it starts with the gzip magic bytes; Gzip
// and NoGzip force the choice. An input that is not the gzip stream it
// claims to be fails the run with an error naming it; lines read before
// the fault are emitted.
//
// Lines reads r and does not close it; a second run of the pipeline goes on
// where the first stopped. A read blocked in r cannot be interrupted: the
// source stops at the next line when the run stops or drains.
func Lines(r io.Reader, name string, opts ...Option) *source.Of[Line] {
	cfg := collect(opts)
	return source.Func(func(ctx context.Context, yield func(Line) bool) error {
		return readLines(ctx, r, name, cfg, yield)
	}).Named("lines")
}

// LinesFile emits the lines of the file at path, as Lines does, with the
// path as the lines' File. The file is opened when the run starts, so each
// run reads it anew, and closed when the source ends; an error opening it
// fails the run and names the path.
func LinesFile(path string, opts ...Option) *source.Of[Line] {
	cfg := collect(opts)
	return source.Func(func(ctx context.Context, yield func(Line) bool) error {
		return withFile(ctx, path, func(f *os.File) error {
			return readLines(ctx, f, path, cfg, yield)
		})
	}).Named("lines")
}

// readLines is the generator of Lines and LinesFile.
func readLines(ctx context.Context, r io.Reader, name string, cfg config, yield func(Line) bool) error {
	in, err := openInput(r, name, cfg.gzip)
	if err != nil {
		return stopped(ctx, err)
	}
	for n := 1; ; n++ {
		text, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			// text is a part of line n: emit none of it.
			return stopped(ctx, &LineError{File: name, Line: n, Err: in.readErr(err)})
		}
		if text == "" { // at the end of the input
			return nil
		}
		if !yield(Line{File: name, N: n, Text: trimEOL(text)}) || err != nil {
			return nil
		}
	}
}

// trimEOL drops the "\n" or "\r\n" that ends s, and a "\r" that ends the
// input's last line, as bufio.ScanLines does.
func trimEOL(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// stopped returns err, or ctx's error when ctx is done: a read that failed
// because the run stopped (and LinesFile closed the file) is no failure of
// the input.
func stopped(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// Raw returns the line's text, as read: what a dead-letter file keeps of it.
func (l Line) Raw() string { return l.Text }
