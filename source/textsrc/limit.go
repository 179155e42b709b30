package textsrc

import (
	"errors"
	"io"
	"strconv"
)

var (
	// ErrLineTooLong is matched (errors.Is) by the error of a line longer
	// than MaxLineBytes, which reads "line is longer than 16 MiB
	// (MaxLineBytes)" in a *LineError naming the line.
	ErrLineTooLong = errors.New("line is longer than MaxLineBytes")
	// ErrInputTooLarge is matched by the error of an input larger than
	// MaxBytes, which reads "input is larger than MaxBytes (1 GiB)" in a
	// *LineError naming the line the cap cut.
	ErrInputTooLarge = errors.New("input is larger than MaxBytes")
	// ErrFileShrank is matched by the error of a file that was found
	// shorter than what had been read of it, which reads "file shrank from
	// 65536 to 0 bytes" in a *LineError naming the line where it ended.
	ErrFileShrank = errors.New("file shrank while it was read")
	// ErrRecordTooLong is why a CSV record longer than MaxLineBytes is
	// malformed.
	ErrRecordTooLong = errors.New("record is longer than MaxLineBytes")
	// ErrTooManyFields is why a CSV record with more fields than
	// MaxFields is malformed.
	ErrTooManyFields = errors.New("record has more fields than MaxFields")
)

// limitError is an error that says what and how much, and matches its
// sentinel.
type limitError struct {
	is   error // one of the sentinels above
	text string
}

func (e *limitError) Error() string        { return e.text }
func (e *limitError) Is(target error) bool { return target == e.is }

func errLineTooLong(max int) error {
	return &limitError{ErrLineTooLong, "line is longer than " + byteSize(int64(max)) + " (MaxLineBytes)"}
}

func errInputTooLarge(max int64) error {
	return &limitError{ErrInputTooLarge, "input is larger than MaxBytes (" + byteSize(max) + ")"}
}

func errFileShrank(from, to int64) error {
	return &limitError{ErrFileShrank, "file shrank from " + strconv.FormatInt(from, 10) + " to " + strconv.FormatInt(to, 10) + " bytes"}
}

// byteSize writes n as the options are usually given: "16 MiB", "1 GiB",
// "4 KiB", or "1000 bytes" when it is no whole number of those.
func byteSize(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, " GiB"}, {1 << 20, " MiB"}, {1 << 10, " KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// capReader reads r up to max bytes; past them, it fails with
// errInputTooLarge. An input of exactly max bytes reads whole.
type capReader struct {
	r    io.Reader
	max  int64
	left int64 // bytes it may still read
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// At the cap: the input is too large only if it has more.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errInputTooLarge(c.max)
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
