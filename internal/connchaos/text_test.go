package connchaos_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// textEnv is a run's text input and output, in the run's directory: the
// inputs as JSON lines in a file, a pipe or a FIFO, and the sink's file or
// buffer.
type textEnv struct {
	r *runState

	input  string   // the lines the writer writes
	path   string   // srcFile, srcFIFO: the input's path
	pr, pw *os.File // srcPipe: the pipe's ends
	fifoW  *os.File // srcFIFO: the writer's end, once open; guarded by r.mu

	outPath string         // snkFile: the output
	old     string         // snkFile: what the path held before the run; "" for no file
	buf     syncbuf.Buffer // snkWriter: the output
}

// oldContent is the line of the file at the sink's path before the run.
const oldContent = `{"id":-1,"v":0}` + "\n"

// openText makes the run's input, and starts its writer for a pipe or a
// FIFO: it writes every line, then closes its end, unless idle.
func (r *runState) openText() error {
	e := &textEnv{r: r, outPath: filepath.Join(r.dir, "out.jsonl")}
	r.text = e
	if r.s.sink.kind == snkFile && r.s.sink.old {
		e.old = oldContent
		if err := os.WriteFile(e.outPath, []byte(e.old), 0o644); err != nil {
			return err
		}
	}
	src := r.s.src
	if src.kind != srcFile && src.kind != srcPipe && src.kind != srcFIFO {
		return nil
	}
	var b strings.Builder
	for id := range src.n {
		if r.s.badLine(id) {
			fmt.Fprintf(&b, `{"id":%d,"v":`+"\n", id) // cut short: not JSON
		} else {
			fmt.Fprintf(&b, `{"id":%d,"v":%d}`+"\n", id, id)
		}
	}
	e.input = b.String()
	switch src.kind {
	case srcFile:
		e.path = filepath.Join(r.dir, "in.jsonl")
		return os.WriteFile(e.path, []byte(e.input), 0o644)
	case srcPipe:
		var err error
		if e.pr, e.pw, err = os.Pipe(); err != nil {
			return err
		}
		r.helpers.Go(func() {
			// The pipe holds 64 KiB, more than the longest input: the
			// write does not wait for the reader.
			_, _ = io.WriteString(e.pw, e.input)
			if !src.idle {
				_ = e.pw.Close()
			}
		})
	case srcFIFO:
		e.path = filepath.Join(r.dir, "in.fifo")
		if err := syscall.Mkfifo(e.path, 0o600); err != nil {
			return err
		}
		if !src.noWriter {
			r.helpers.Go(e.writeFIFO)
		}
	}
	return nil
}

// writeFIFO opens the FIFO for writing, which waits for the source to open
// it for reading (or for finish to release it), and writes the input.
func (e *textEnv) writeFIFO() {
	f, err := os.OpenFile(e.path, os.O_WRONLY, 0)
	if err != nil {
		e.r.violatef("fifo: opening it for writing: %v", err)
		return
	}
	_, _ = io.WriteString(f, e.input) // fails only if the source is gone
	if !e.r.s.src.idle {
		_ = f.Close()
		return
	}
	e.r.mu.Lock()
	e.fifoW = f
	e.r.mu.Unlock()
}

// release ends what may keep the source's reads or open blocked: the
// pipe's and FIFO's writing ends are closed, and a FIFO that nobody opened
// for writing is opened and closed, so that a blocked open(2) returns and
// a blocked FIFO writer's open too. It is called when Run has returned,
// and by a watchdog that finds Run stuck.
func (e *textEnv) release() {
	if e.pw != nil {
		_ = e.pw.Close()
	}
	if e.path == "" || e.r.s.src.kind != srcFIFO {
		return
	}
	e.r.mu.Lock()
	w := e.fifoW
	e.r.mu.Unlock()
	if w != nil {
		_ = w.Close()
	}
	// A reader blocked in open: a writer that comes and goes releases it.
	if f, err := os.OpenFile(e.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		_ = f.Close()
	}
	// A writer blocked in open: a reader that comes and goes releases it.
	if f, err := os.OpenFile(e.path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
		_ = f.Close()
	}
}

// close closes the pipe's reading end, once everything else is done.
func (e *textEnv) close() {
	e.release()
	if e.pr != nil {
		_ = e.pr.Close()
	}
}

// plainReader hides the *os.File it reads from: the source sees an
// arbitrary io.Reader, whose blocked Read it cannot interrupt.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// source starts the pipeline at the text source: each line is noted as
// seen by a Tap, with its fault when it is not JSON, then decoded by
// textsrc.DecodeJSON, the decode position.
func (e *textEnv) source(opts ...pipeline.Option) *pipeline.Pipeline {
	r := e.r
	var src *source.Of[textsrc.Line]
	switch r.s.src.kind {
	case srcFile, srcFIFO:
		src = textsrc.LinesFile(e.path)
	default:
		var in io.Reader = e.pr
		if r.s.src.plain {
			in = plainReader{e.pr}
		}
		src = textsrc.Lines(in, "pipe")
	}
	return pipeline.New(src, opts...).
		Tap(func(l textsrc.Line) {
			id := l.N - 1
			r.observe()
			if r.s.badLine(id) {
				r.note(failure{pos: src0, ids: []int{id}, kind: fPermanent, what: "a line that is not JSON"})
			}
		}).
		Via(textsrc.DecodeJSON[rec]())
}

// sink is the run's text sink: a file, written atomically, or a buffer.
func (e *textEnv) sink() sink.Sink {
	if e.r.s.sink.kind == snkFile {
		return textsink.JSONLFile[rec](e.outPath)
	}
	return textsink.JSONL[rec](&e.buf)
}

// outIDs returns the inputs of the lines in the output, counted, and how
// many lines there are; an older file that is still there counts for
// nothing.
func (e *textEnv) outIDs() (ids map[int]int, lines int, err error) {
	text := e.buf.String()
	if e.r.s.sink.kind == snkFile {
		data, err := os.ReadFile(e.outPath)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, 0, err
		}
		text = string(data)
	}
	ids = map[int]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var v rec
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, 0, fmt.Errorf("output line %q: %w", sc.Text(), err)
		}
		if v.ID == -1 { // the older file's line
			continue
		}
		ids[v.ID]++
		lines++
	}
	return ids, lines, sc.Err()
}

// leftovers lists the temporary files a file sink left in the run's
// directory.
func (e *textEnv) leftovers() []string {
	tmps, _ := filepath.Glob(filepath.Join(e.r.dir, ".out*.tmp-*"))
	return tmps
}
