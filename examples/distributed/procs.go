package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// spawner makes the command of a worker process from its flags: this
// binary with them (main), or the test binary with them in its
// environment (the tests).
type spawner func(args []string) *exec.Cmd

// proc is a worker process started by the coordinator.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *prefixWriter
	done chan struct{} // closed once the process has exited and its output is copied
	err  error         // from Wait, once done
}

// startProc starts cmd as the worker named name, with its stdout and
// stderr written to out, each line prefixed with [name].
func startProc(name string, cmd *exec.Cmd, out io.Writer) (*proc, error) {
	p := &proc{name: name, cmd: cmd, out: &prefixWriter{prefix: "[" + name + "] ", w: out, spoke: make(chan struct{})}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.out.flush()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// started waits, up to timeout, until the worker has written its first
// line: it writes none before it has taken SIGINT and SIGTERM over, and
// until then either would kill it rather than drain it.
func (p *proc) started(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.out.spoke:
	case <-p.done:
	case <-t.C:
	}
}

// signal sends sig to the process, if it still runs.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig) // fails only if it has just exited
	}
}

// wait waits up to timeout for the process to exit, then kills it and
// waits for that. It reports whether it exited in time.
func (p *proc) wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		p.signal(syscall.SIGKILL)
		<-p.done
		return false
	}
}

// exit says how the process ended, once done.
func (p *proc) exit() workerExit {
	e := workerExit{name: p.name, code: p.cmd.ProcessState.ExitCode()}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.signal = ws.Signal()
	}
	if p.err != nil && e.code == 0 && e.signal == 0 {
		e.code = -1 // its output could not be copied
	}
	return e
}

// prefixWriter writes whole lines to w, each prefixed; the lines of all
// the workers go to the same w, a line at a time (outMu).
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     sync.Mutex
	part   []byte        // the start of a line not yet ended
	spoke  chan struct{} // closed at the first line
}

// outMu serializes the lines of all prefixWriters, and the coordinator's.
var outMu sync.Mutex

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			pw.part = append(pw.part, b...)
			break
		}
		pw.line(append(pw.part, b[:i+1]...))
		pw.part = pw.part[:0]
		b = b[i+1:]
	}
	return n, nil
}

// flush writes the last line if it did not end.
func (pw *prefixWriter) flush() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if len(pw.part) > 0 {
		pw.line(append(pw.part, '\n'))
		pw.part = pw.part[:0]
	}
}

func (pw *prefixWriter) line(l []byte) {
	select {
	case <-pw.spoke:
	default:
		close(pw.spoke)
	}
	outMu.Lock()
	defer outMu.Unlock()
	_, _ = io.WriteString(pw.w, pw.prefix)
	_, _ = pw.w.Write(l)
}

// say writes a line of the coordinator's own to w.
func say(w io.Writer, format string, a ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(w, format+"\n", a...)
}
