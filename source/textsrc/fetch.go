package textsrc

import (
	"context"
	"io"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// fetchGrace is how long a run that ends with a read of an arbitrary
// reader pending waits for it, before it leaves the reading goroutine
// behind: a Read that is not blocked returns well within it.
const fetchGrace = 100 * time.Millisecond

// fetcher reads an arbitrary io.Reader, one that has no descriptor to poll
// and no deadline, in a goroutine of its own, so that a stopped run can
// stop waiting for a Read that nothing can interrupt. The goroutine reads
// a 64 KiB buffer ahead into a second one while the run takes the first:
// the cost is a request, a result and a copy per buffer, not per line, and
// the run seldom waits.
//
// The goroutine lives for one run: when the run ends, it ends at once if
// it is idle, or once its Read returns. A run whose goroutine is still in
// Read fetchGrace after it ended leaves it behind and counts it
// (flow.Run.LeaveBehind). The result of that Read is not lost: it waits in
// res for the next run, which takes it before it asks the reader for more,
// so that two goroutines never read the reader at once.
type fetcher struct {
	r    io.Reader
	bufs [2][]byte    // the goroutine fills one while the run takes the other
	next int          // the one the next read fills
	res  chan fetched // the pending read's result; its one slot means a send never blocks

	pending bool   // a read was asked for, and its result not taken
	data    []byte // what a read gave, not yet handed on
	err     error  // the error that came with data, handed on after it

	ctx    context.Context // the current run's
	reqs   chan []byte     // the current run's goroutine's: the buffers to fill; nil until it starts
	exited chan struct{}   // closed when the last goroutine started has ended
}

// fetched is the result of a read into buf.
type fetched struct {
	buf []byte
	err error
}

func newFetcher(r io.Reader) *fetcher {
	return &fetcher{
		r:    r,
		bufs: [2][]byte{make([]byte, readerSize), make([]byte, readerSize)},
		res:  make(chan fetched, 1),
	}
}

// arm readies the fetcher for the run whose context is ctx. The returned
// func ends the run's goroutine, and counts it in the run's LeftBehind
// when it is still blocked in a Read of the reader named name.
func (f *fetcher) arm(ctx context.Context, name string) (disarm func()) {
	f.ctx = ctx
	return func() {
		if f.reqs != nil {
			close(f.reqs) // the goroutine ends once its Read, if any, returns
		}
		if f.exited != nil && !f.await() {
			// Blocked in Read: this run's goroutine, or one an earlier
			// run left behind. Either way it outlives this run.
			if run := flow.RunOf(ctx); run != nil {
				run.LeaveBehind("a Read of " + name)
			}
		}
		f.ctx, f.reqs = nil, nil
	}
}

// await waits for the last goroutine to end, for at most fetchGrace when
// a read is pending (it ends at once otherwise), and reports whether it
// did.
func (f *fetcher) await() bool {
	if !f.pending {
		<-f.exited
		return true
	}
	timer := time.NewTimer(fetchGrace)
	defer timer.Stop()
	select {
	case <-f.exited:
		return true
	case <-timer.C:
		return false
	}
}

// Read hands on what the last read gave, or waits for the next; once the
// run's context is done, it returns the context's error without waiting.
func (f *fetcher) Read(p []byte) (int, error) {
	if len(f.data) == 0 && f.err == nil {
		if err := f.fetch(); err != nil {
			return 0, err
		}
	}
	if len(f.data) > 0 {
		n := copy(p, f.data)
		f.data = f.data[n:]
		return n, nil
	}
	err := f.err
	f.err = nil
	return 0, err
}

// fetch takes the result of the pending read, asking for one first unless
// one is pending (read ahead, or left by an earlier run), and asks for the
// next.
func (f *fetcher) fetch() error {
	if !f.pending {
		f.ask()
	}
	select {
	case res := <-f.res:
		f.pending = false
		f.data, f.err = res.buf, res.err
		if res.err == nil {
			f.ask() // read ahead into the other buffer while this one is taken
		}
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

// ask has the run's goroutine, started if need be, fill the next buffer.
func (f *fetcher) ask() {
	if f.reqs == nil {
		f.reqs, f.exited = make(chan []byte, 1), make(chan struct{})
		go f.loop(f.reqs, f.exited)
	}
	f.reqs <- f.bufs[f.next] // into its empty slot: the goroutine has no request
	f.next = 1 - f.next
	f.pending = true
}

// loop is the goroutine: it fills each buffer it is given from r, until
// reqs is closed.
func (f *fetcher) loop(reqs <-chan []byte, exited chan<- struct{}) {
	defer close(exited)
	for buf := range reqs {
		f.res <- f.read(buf) // the slot is empty: the run took the last result before it asked
	}
}

// read reads r into buf, turning a panic into an error, which fails the
// run as a panic in the source would.
func (f *fetcher) read(buf []byte) (res fetched) {
	defer func() {
		if v := recover(); v != nil {
			res = fetched{err: flow.NewPanicError(v)}
		}
	}()
	n, err := f.r.Read(buf)
	return fetched{buf[:n], err}
}
