package textsrc

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// readerSize is the buffer size of the readers the sources read through. A
// longer line (up to MaxLineBytes) is still read whole; it only takes more
// than one fill.
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
// came from the gzip stream. An input past MaxBytes is no failed read: its
// error says so alone.
func (in input) readErr(err error) error {
	if errors.Is(err, ErrInputTooLarge) {
		return err
	}
	if in.gzip {
		return fmt.Errorf("read gzip: %w", err)
	}
	return fmt.Errorf("read: %w", err)
}

// openInput prepares br, named name, for reading: it decompresses it when
// mode says so or, in auto mode, when it starts with the gzip magic bytes,
// caps the bytes it reads, decompressed, at maxBytes unless that is 0, and
// skips a UTF-8 byte order mark at its start. It waits for no more bytes
// than it needs to tell: a live input's first line comes at once.
//
// An input decompressed or capped is read through a buffer of its own; a
// plain input without a cap is read from br.
func openInput(br *bufio.Reader, name string, mode gzipMode, maxBytes int64) (input, error) {
	in := input{Reader: br}
	var r io.Reader = br // what in.Reader reads
	switch mode {
	case gzipOn:
		in.gzip = true
	case gzipAuto:
		var err error
		if in.gzip, err = startsWith(br, gzipMagic); err != nil {
			return input{}, fmt.Errorf("%s: %w", name, in.readErr(err))
		}
	}
	if in.gzip {
		zr, err := gzip.NewReader(br)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // an empty input is no gzip stream
		}
		if err != nil {
			return input{}, fmt.Errorf("%s: not a valid gzip stream: %w", name, err)
		}
		r = zr
	}
	if maxBytes > 0 {
		r = &capReader{r: r, max: maxBytes, left: maxBytes}
	}
	if in.gzip || maxBytes > 0 {
		in.Reader = bufio.NewReaderSize(r, readerSize)
	}
	bom, err := startsWith(in.Reader, utf8BOM)
	if err != nil {
		return input{}, fmt.Errorf("%s: %w", name, in.readErr(err))
	}
	if bom {
		_, _ = in.Discard(len(utf8BOM))
	}
	return in, nil
}

// startsWith reports whether br starts with prefix, reading only as many
// bytes as it takes to tell: a byte that differs settles it without
// waiting for the next. The end of the input is no error.
func startsWith(br *bufio.Reader, prefix []byte) (bool, error) {
	for i := range prefix {
		head, err := br.Peek(i + 1)
		switch {
		case errors.Is(err, io.EOF):
			return false, nil
		case err != nil:
			return false, err
		case head[i] != prefix[i]:
			return false, nil
		}
	}
	return true, nil
}

// withFile opens path (see openFile) for the time f runs, and closes it
// after. A run stopped while the file was opening reads nothing.
func withFile(ctx context.Context, path string, f func(*os.File) error) error {
	file, err := openFile(ctx, path)
	if err != nil {
		return err // an *fs.PathError: "open <path>: <why>"
	}
	defer func() { _ = file.Close() }() // read only: a failed close loses nothing
	if err := ctx.Err(); err != nil {
		return err
	}
	return f(file)
}
