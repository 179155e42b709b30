package textsrc

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"time"
)

// stoppable is what a feed's buffer reads: the source's reader, armed for
// each run so that a stop of the run ends a read blocked in it, by the
// means the reader's kind allows:
//
//   - a reader in memory, or a regular file, never waits: it is read as
//     it is;
//   - a reader with a read deadline (a net.Conn, or an *os.File that the
//     runtime polls: a pipe from os.Pipe, a FIFO opened by LinesFile) has
//     one set in the past when the run stops;
//   - another *os.File (os.Stdin, a terminal, a pipe inherited in blocking
//     mode) is read through a duplicate of its descriptor made non-blocking,
//     which the runtime polls, with a read deadline (see pollableDup);
//   - any other reader is read in a goroutine of its own (fetcher), which a
//     stopped run leaves behind while it is blocked in Read.
type stoppable struct {
	r     io.Reader
	cur   io.Reader // what the current run reads: r, a duplicate of it, or fetch
	fetch *fetcher  // made the first time r needs it, and kept for its pending read

	ctx context.Context // the current run's
	cut bool            // the stop of the current run failed a read
}

// deadliner is a reader whose reads a deadline ends, as net.Conn's.
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// longAgo is the deadline that ends a read at once.
var longAgo = time.Unix(1, 0)

// Read reads the current run's reader.
func (s *stoppable) Read(p []byte) (int, error) {
	n, err := s.cur.Read(p)
	if err != nil && s.ctx.Err() != nil {
		s.cut = true
	}
	return n, err
}

// arm makes the reads of the run whose context is ctx stoppable. The
// returned func undoes what arm did; the run calls it before it ends.
func (s *stoppable) arm(ctx context.Context, name string) (disarm func()) {
	s.ctx, s.cut = ctx, false
	switch r := s.r.(type) {
	case *strings.Reader, *bytes.Reader, *bytes.Buffer:
		s.cur = r
		return func() {}
	case *os.File:
		if cur, disarm, ok := armFile(ctx, r); ok {
			s.cur = cur
			return disarm
		}
	case deadliner:
		s.cur = s.r
		return armDeadline(ctx, r)
	}
	if s.fetch == nil {
		s.fetch = newFetcher(s.r)
	}
	s.cur = s.fetch
	return s.fetch.arm(ctx, name)
}

// armFile arms the reads of f, and says whether it could: a regular file
// needs nothing, a file the runtime polls takes a deadline, and another is
// read through a duplicate that the runtime polls.
func armFile(ctx context.Context, f *os.File) (cur io.Reader, disarm func(), ok bool) {
	fi, err := f.Stat()
	if err != nil || fi.Mode().IsRegular() {
		// A file whose Stat fails (closed) fails its reads as well.
		return f, func() {}, true
	}
	if f.SetReadDeadline(time.Time{}) == nil {
		return f, armDeadline(ctx, f), true
	}
	dup, restore, err := pollableDup(f)
	if err != nil {
		return nil, nil, false
	}
	clear := armDeadline(ctx, dup)
	return dup, func() {
		clear()
		restore()
	}, true
}

// armDeadline sets a read deadline in the past on d once ctx is done,
// which ends a read blocked in it and fails those after. The returned func
// clears the deadline if it was set, once the func that sets it (run by
// context.AfterFunc in a goroutine of its own) has returned.
func armDeadline(ctx context.Context, d deadliner) func() {
	fired := make(chan struct{})
	set := false
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		set = d.SetReadDeadline(longAgo) == nil
	})
	return func() {
		if stop() {
			return // ctx was not done: no deadline was set
		}
		<-fired
		if set {
			_ = d.SetReadDeadline(time.Time{})
		}
	}
}
