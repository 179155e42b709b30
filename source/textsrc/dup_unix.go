//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package textsrc

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// errNotPollable says that the runtime cannot poll a descriptor (epoll
// refuses regular files and devices such as /dev/null, which never wait).
var errNotPollable = errors.New("descriptor not pollable")

// pollableDup returns a duplicate of f's descriptor in non-blocking mode,
// as an *os.File that the runtime polls (os.NewFile registers a descriptor
// that is already non-blocking), so that a read deadline ends a read of
// it. Closing f instead would not end a read blocked in it, and the
// sources promise not to close their reader.
//
// The duplicate shares f's open file description, and with it the
// non-blocking mode, with f and with any process that inherited it (the
// shell, for a terminal). restore puts the description back in the mode it
// had and closes the duplicate. A process killed before restore runs
// (SIGKILL) leaves the description non-blocking, and its next reader may
// fail with EAGAIN.
func pollableDup(f *os.File) (dup *os.File, restore func(), err error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	fd := -1
	cerr := sc.Control(func(old uintptr) {
		// As package os does: no fork may copy the descriptor before it
		// is marked close-on-exec.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, err = syscall.Dup(int(old)); err == nil {
			syscall.CloseOnExec(fd)
		}
	})
	if cerr != nil {
		return nil, nil, cerr
	}
	if err != nil {
		return nil, nil, err
	}
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		_ = syscall.Close(fd)
		return nil, nil, errno
	}
	wasNonblock := flags&syscall.O_NONBLOCK != 0
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, nil, err
	}
	dup = os.NewFile(uintptr(fd), f.Name())
	restore = func() {
		if !wasNonblock {
			if sc, err := dup.SyscallConn(); err == nil {
				_ = sc.Control(func(fd uintptr) { _ = syscall.SetNonblock(int(fd), false) })
			}
		}
		_ = dup.Close()
	}
	if dup.SetReadDeadline(time.Time{}) != nil {
		restore()
		return nil, nil, errNotPollable
	}
	return dup, restore, nil
}
