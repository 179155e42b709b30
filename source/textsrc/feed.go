package textsrc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// feed is the input of a source and how far reading it got. Lines and CSV
// keep theirs from one run to the next, so that a run goes on exactly where
// the one before stopped: with the bytes read ahead into the buffer, the
// start of a line a stop cut, the count of lines emitted, and a read that a
// stopped run left pending. LinesFile and CSVFile make one per run.
type feed struct {
	name string
	err  error         // why the feed cannot be read (a nil reader)
	turn chan struct{} // holds a token while a run reads: runs take turns
	src  *stoppable    // the reader, made stoppable run by run
	raw  *bufio.Reader // reads src
	in   *input        // raw, decompressed if need be and past a byte order mark; nil until a run got that far
	part []byte        // the start of a line that a stop (or a read error) cut
	long *longLine     // the line too long being read on to its end, or nil
	n    int           // the lines emitted so far
}

// newFeed returns the feed of r, named name.
func newFeed(r io.Reader, name string) *feed {
	f := &feed{name: name, turn: make(chan struct{}, 1)}
	if r == nil {
		f.err = fmt.Errorf("textsrc: %s: nil reader", name)
		return f
	}
	f.src = &stoppable{r: r}
	f.raw = bufio.NewReaderSize(f.src, readerSize)
	return f
}

// take waits for the run whose context is ctx to have its turn at the
// feed, then arms the reader so that once ctx is done a read blocked in it
// returns, and reads after fail. The returned func ends the turn; call it
// before the run ends. A run that is stopped while another has the turn
// returns ctx's error.
func (f *feed) take(ctx context.Context) (func(), error) {
	if f.err != nil {
		return nil, f.err
	}
	select {
	case f.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	disarm := f.src.arm(ctx, f.name)
	return func() {
		disarm()
		if f.src.cut && f.in != nil && f.in.gzip {
			// compress/gzip keeps the error of a failed read: the stream
			// cannot be read on, and a next run would fail with a
			// deadline's error that names no cause.
			f.err = fmt.Errorf("textsrc: %s: a stop cut its gzip stream, which cannot be read on", f.name)
		}
		<-f.turn
	}, nil
}

// open returns the feed's input ready to read, decompressed as cfg.gzip
// says and capped at cfg.maxBytes (see openInput). The first run to call
// it looks at the input's first bytes, for a gzip header and a byte order
// mark; the runs after go on with the same input.
func (f *feed) open(cfg config) (*input, error) {
	if f.in == nil {
		in, err := openInput(f.raw, f.name, cfg.gzip, cfg.maxBytes)
		if err != nil {
			return nil, err
		}
		f.in = &in
	}
	return f.in, nil
}

// readLine returns the next line of in, with its line ending, or a last
// line without one along with io.EOF, or "" and io.EOF at the end.
//
// A line longer than limit bytes, line ending excluded, is not held: it
// returns "" and what it kept of the line (its head and size), having read
// on to its end and dropped the rest. It holds at most limit+2 bytes of a
// line, besides in's buffer.
//
// When a read fails, it returns "" and the error, and keeps what it had of
// the line, or of a line too long, for the next call, which a next run
// makes.
func (f *feed) readLine(in *input, limit int) (string, *longLine, error) {
	for {
		frag, err := in.ReadSlice('\n')
		end := err == nil || errors.Is(err, io.EOF) // the line ends with frag
		if f.long == nil {
			if err == nil && len(f.part) == 0 && len(frag)-1 <= limit {
				return string(frag), nil, nil // the common case: a line within the buffer
			}
			if n := len(f.part) + len(frag); n-2 <= limit { // may fit, with "\r\n"
				f.part = appendCapped(f.part, frag, limit)
				switch {
				case !end && errors.Is(err, bufio.ErrBufferFull):
					continue
				case !end:
					return "", nil, err
				case len(f.part)-eolLen(f.part) <= limit:
					s := string(f.part)
					f.dropPart()
					return s, nil, err
				}
				frag = nil // in f.part, which is too long after all
			}
			// Too long: keep its head and size, drop the rest, read on.
			f.long = &longLine{}
			f.long.add(f.part)
			f.dropPart()
		}
		f.long.add(frag)
		switch {
		case end:
			long := f.long
			f.long = nil
			return "", long, err
		case !errors.Is(err, bufio.ErrBufferFull):
			return "", nil, err
		}
	}
}

// appendCapped appends frag to b, growing b by doubling but to no more
// than limit bytes unless it needs more: a line near the limit is held
// without the garbage of append's finer steps, nor a buffer far above it.
func appendCapped(b, frag []byte, limit int) []byte {
	if n := len(b) + len(frag); n > cap(b) {
		grown := make([]byte, len(b), max(n, min(2*cap(b), limit)))
		copy(grown, b)
		b = grown
	}
	return append(b, frag...)
}

// eolLen returns the length of the line ending that trimEOL drops from b.
func eolLen(b []byte) int {
	n := 0
	if len(b) > 0 && b[len(b)-1] == '\n' {
		n++
	}
	if len(b) > n && b[len(b)-1-n] == '\r' {
		n++
	}
	return n
}

// dropPart empties f.part, and lets the memory of a long line go.
func (f *feed) dropPart() {
	if cap(f.part) > readerSize {
		f.part = nil
		return
	}
	f.part = f.part[:0]
}
