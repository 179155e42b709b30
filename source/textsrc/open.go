package textsrc

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// readerSize is the buffer size of the readers the sources read through. A
// longer line is still read whole; it only takes more than one fill.
const readerSize = 64 << 10

var (
	gzipMagic = []byte{0x1f, 0x8b}
	utf8BOM   = []byte{0xef, 0xbb, 0xbf}
)

// input is a source's input, ready to read: decompressed if need be, past
// any byte order mark.
type input struct {
	*bufio.Reader
	gzip bool // the input is decompressed from gzip
}

// readErr wraps an error met while reading the input, saying whether it
// came from the gzip stream.
func (in input) readErr(err error) error {
	if in.gzip {
		return fmt.Errorf("read gzip: %w", err)
	}
	return fmt.Errorf("read: %w", err)
}

// openInput prepares r, named name, for reading: it decompresses it when
// mode says so or, in auto mode, when it starts with the gzip magic bytes,
// and skips a UTF-8 byte order mark at its start.
func openInput(r io.Reader, name string, mode gzipMode) (input, error) {
	if r == nil {
		return input{}, fmt.Errorf("textsrc: %s: nil reader", name)
	}
	br := bufio.NewReaderSize(r, readerSize)
	in := input{Reader: br}
	switch mode {
	case gzipOn:
		in.gzip = true
	case gzipAuto:
		head, err := br.Peek(len(gzipMagic))
		if err != nil && !errors.Is(err, io.EOF) {
			return input{}, fmt.Errorf("%s: %w", name, in.readErr(err))
		}
		in.gzip = bytes.Equal(head, gzipMagic)
	}
	if in.gzip {
		zr, err := gzip.NewReader(br)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // an empty input is no gzip stream
		}
		if err != nil {
			return input{}, fmt.Errorf("%s: not a valid gzip stream: %w", name, err)
		}
		in.Reader = bufio.NewReaderSize(zr, readerSize)
	}
	head, err := in.Peek(len(utf8BOM))
	if err != nil && !errors.Is(err, io.EOF) {
		return input{}, fmt.Errorf("%s: %w", name, in.readErr(err))
	}
	if bytes.Equal(head, utf8BOM) {
		_, _ = in.Discard(len(utf8BOM))
	}
	return in, nil
}

// withFile opens path for the time f runs, and closes it after. When ctx is
// done, the file is closed at once, so that a read blocked on a pipe or a
// FIFO returns and the source can stop.
func withFile(ctx context.Context, path string, f func(*os.File) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err // an *fs.PathError: "open <path>: <why>"
	}
	stop := context.AfterFunc(ctx, func() { _ = file.Close() })
	defer func() {
		stop()
		_ = file.Close() // read only: a failed close loses nothing
	}()
	return f(file)
}
