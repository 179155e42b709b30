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

// input returns the feed's input ready to read, looking at its first bytes
// for a gzip header (as mode says) and a byte order mark the first time.
func (f *feed) input(mode gzipMode) (*input, error) {
	if f.in == nil {
		in, err := openInput(f.raw, f.name, mode)
		if err != nil {
			return nil, err
		}
		f.in = &in
	}
	return f.in, nil
}

// readLine returns the next line of in, with its line ending, or a last
// line without one along with io.EOF, or "" and io.EOF at the end. When a
// read fails, it returns "" and the error, and keeps what it had of the
// line for the next call, which a next run makes.
func (f *feed) readLine(in *input) (string, error) {
	for {
		frag, err := in.ReadSlice('\n')
		switch {
		case err == nil && len(f.part) == 0:
			return string(frag), nil // the common case: a line within the buffer
		case err == nil || errors.Is(err, io.EOF):
			s := string(append(f.part, frag...))
			f.dropPart()
			return s, err
		}
		f.part = append(f.part, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

// dropPart empties f.part, and lets the memory of a long line go.
func (f *feed) dropPart() {
	if cap(f.part) > readerSize {
		f.part = nil
		return
	}
	f.part = f.part[:0]
}
