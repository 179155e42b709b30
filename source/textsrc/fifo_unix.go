//go:build unix

package textsrc

import (
	"context"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// openFile opens path for reading. Opening a FIFO waits in open(2) until a
// writer opens it too: when ctx is done first, openFile releases that open
// by opening the FIFO for writing without waiting (O_NONBLOCK; a reader
// waiting in open(2) counts as a reader, so this succeeds) and closing it
// at once, every millisecond until the open has returned. Other readers of
// the FIFO, if any, see that writer come and go.
func openFile(ctx context.Context, path string) (*os.File, error) {
	if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		return os.Open(path) // not a FIFO: open(2) does not wait
	}
	opened, released := make(chan struct{}), make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(released)
		for {
			if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0); err == nil {
				_ = syscall.Close(fd)
			}
			select {
			case <-opened:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	f, err := os.Open(path)
	close(opened)
	if !stop() {
		<-released // no goroutine outlives the run
	}
	return f, err
}
