package textsrc

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// rawHead is the most bytes a Record keeps of the text it was read from,
// when it keeps them apart from its fields: enough to find the record by,
// and as much as a dead letter keeps by default. It is also the size of
// the blocks csvScanner holds a long record in.
const rawHead = readerSize

// csvScanner splits a CSV input into its records: it follows
// encoding/csv's quoting rules through the input's buffer to find where
// each record ends, and counts its fields on the way, so that a record
// over MaxLineBytes is never held whole and one over MaxFields is never
// split into fields. A record that the buffer holds whole, without a
// syntax error, it splits into fields itself (split); encoding/csv parses
// any other (csvParser), giving the fields, errors and positions it gives
// when it reads the whole input.
//
// The rules are those of encoding/csv's Reader with Comma set, LazyQuotes
// as set, and neither Comment nor TrimLeadingSpace:
//
//   - "\n" ends a line, and so do "\r\n" and a "\r" that ends the input. A
//     record starts on a line that is not empty.
//   - A field is quoted when '"' opens it. Inside it "" is a quote, and a
//     quote followed by the delimiter or the line's end closes it; another
//     quote is an error (ErrQuote), or a quote with LazyQuotes. A line that
//     ends inside a quoted field goes on with the next; the input's end ends
//     the field (an error without LazyQuotes).
//   - A quote in a field it did not open is an error (ErrBareQuote), or a
//     quote with LazyQuotes.
//   - An error ends the record at the end of its line.
//
// A record whose bytes reach MaxLineBytes inside a quoted field, or
// anywhere but just before its line ending, is over the limit: it ends at
// the end of that line.
type csvScanner struct {
	in        *input
	comma     []byte // the delimiter, UTF-8 encoded
	lazy      bool
	maxLen    int   // MaxLineBytes
	maxFields int   // MaxFields
	tooLong   error // the error of a record over maxLen
	tooMany   error // the error of a record over maxFields
	line      int   // the lines read so far
	eof       bool  // the input has ended

	// held is the record so far, when it spans more than the input's
	// buffer, in blocks of rawHead bytes. Once the record is over a limit,
	// only its first block is kept.
	held  [][]byte
	spare []byte    // a block to reuse
	one   [1][]byte // csvChunk.parts of a record in the input's buffer

	c     csvChunk    // the record scan returns
	spans []fieldSpan // where split found the fields of a quoted line
}

// csvChunk is a record as csvScanner found it.
type csvChunk struct {
	// parts are the record's bytes as read, the line ending that ends it
	// included, in order: valid until the next scan. For a record over a
	// limit, they are its first bytes only, at most rawHead.
	parts      [][]byte
	size       int   // the record's length: its bytes without the line ending
	start, end int   // the lines it starts and ends on, counting from 1
	err        error // the limit it is over
	// fields, when not nil, are the record's fields, which the scanner
	// split itself (see split), and text its text, which they are slices
	// of. Otherwise encoding/csv parses it.
	fields []string
	text   string
}

// head returns the record's text, line ending excluded, or its first
// rawHead bytes, and whether that is only its head. They are all in its
// first part: the input's buffer, or a first block of rawHead bytes.
func (c *csvChunk) head() (string, bool) {
	n := min(c.size, rawHead)
	return string(c.parts[0][:n]), c.size > n
}

func newCSVScanner(in *input, cfg config) *csvScanner {
	var comma [utf8.UTFMax]byte
	n := utf8.EncodeRune(comma[:], cfg.comma)
	return &csvScanner{
		in:        in,
		comma:     comma[:n],
		lazy:      cfg.lazyQuotes,
		maxLen:    cfg.maxLine,
		maxFields: cfg.maxFields,
		tooLong:   &limitError{ErrRecordTooLong, "record is longer than " + byteSize(int64(cfg.maxLine)) + " (MaxLineBytes)"},
		tooMany:   &limitError{ErrTooManyFields, "record has more than " + thousands(cfg.maxFields) + " fields (MaxFields)"},
	}
}

// scan reads the next record, which it returns until the next scan. It
// returns io.EOF at the end of the input, and the error of a read that
// failed, with the chunk's start set if the record had started. A record
// over a limit comes with its err set.
func (s *csvScanner) scan() (*csvChunk, error) {
	s.release()
	c := &s.c
	*c = csvChunk{}
	var w []byte
	for { // past the empty lines
		var err error
		if w, err = s.peek(2); err != nil {
			return c, err
		}
		n := 0
		switch {
		case len(w) == 0, len(w) == 1 && w[0] == '\r' && s.eof:
			_, _ = s.in.Discard(len(w))
			return c, io.EOF
		case w[0] == '\n':
			n = 1
		case len(w) >= 2 && w[0] == '\r' && w[1] == '\n':
			n = 2
		}
		if n == 0 {
			break
		}
		_, _ = s.in.Discard(n)
		s.line++
	}
	c.start = s.line + 1
	end := s.split(c, w)
	if end < 0 {
		return c, s.slow(c)
	}
	// The common case: the record is in the buffer, and ends with a line.
	s.one[0] = w[:end:end]
	_, _ = s.in.Discard(end)
	c.parts = s.one[:]
	c.end = c.start + bytes.Count(w[:end-1], newline)
	s.line = c.end
	return c, nil
}

// The states of csvScanner.slow.
const (
	atField  = iota // outside quotes, where a field starts
	inField         // outside quotes, inside a field
	inQuotes        // inside a quoted field
	toEOL           // past an error or the limit: the record ends with the line
)

// slow reads the record that starts at the input's next byte, on line
// c.start, through as many reads as it takes.
func (s *csvScanner) slow(c *csvChunk) error {
	var (
		lc   = len(s.comma)
		mode = atField
		seps int    // the delimiters between fields so far, up to an error
		ok   bool   // encoding/csv ends the last field without an error
		nls  int    // the "\n"s in the record
		base int    // the record's bytes before w
		last byte   // the record's last byte before w
		end  = -1   // where the record ends in w, once found
		term int    // the length of the line ending that ends it
		hold = true // the record is held: it is within the limits so far
		past bool   // it went over MaxLineBytes, and ends with the line
		i    int
		w    []byte
		more = 0 // how many more bytes than are buffered to read first
	)
	for end < 0 {
		var err error
		if w, err = s.peek(s.in.Buffered() + more); err != nil {
			return err
		}
		i, more = 0, 1 // from now on, each read is for more bytes
		// prev is the byte before w[k] in the record.
		prev := func(k int) byte {
			if k > 0 {
				return w[k-1]
			}
			return last
		}
	steps:
		for end < 0 {
			lim := s.maxLen - base // where the record reaches the limit, in w
			if mode != toEOL && i >= lim {
				// At the limit, the record may only end.
				switch {
				case i > lim:
				case !s.eof && (i == len(w) || w[i] == '\r' && i+1 == len(w)):
					break steps // to tell whether the input ends
				case i == len(w) || w[i] == '\r' && i+1 == len(w): // the input ends
					end, ok = len(w), mode != inQuotes || s.lazy
					term = btoi(prev(end) == '\r')
					continue
				case mode == inQuotes:
				case w[i] == '\n':
					end, ok, term, nls = i+1, true, 1+btoi(prev(i) == '\r'), nls+1
					continue
				case w[i] == '\r' && w[i+1] == '\n':
					end, ok, term, nls = i+2, true, 2, nls+1
					continue
				}
				mode, hold, past = toEOL, false, true
			}
			switch mode {
			case toEOL:
				if nl := bytes.IndexByte(w[i:], '\n'); nl >= 0 {
					end, term, nls = i+nl+1, 1+btoi(prev(i+nl) == '\r'), nls+1
				} else if s.eof {
					end, term = len(w), btoi(prev(len(w)) == '\r')
				} else {
					i = len(w)
					if base+i-1 > s.maxLen {
						hold = false // the line after an error is over the limit
					}
					break steps
				}
			case atField, inField:
				if mode == atField && i < len(w) && w[i] == '"' {
					mode, i = inQuotes, i+1
					continue
				}
				hi := min(len(w), lim)
				seg := w[i:hi]
				nl := bytes.IndexByte(seg, '\n')
				if nl >= 0 {
					seg = seg[:nl]
				}
				q := bytes.IndexByte(seg, '"')
				if q >= 0 {
					q += i
					seps += bytes.Count(w[i:q], s.comma)
					switch {
					case q-lc >= i && bytes.Equal(w[q-lc:q], s.comma): // a quote opens the field
						mode = inQuotes
					case !s.lazy: // ErrBareQuote
						mode = toEOL
					default:
						mode = inField
					}
					i = q + 1
					continue
				}
				switch {
				case nl >= 0:
					seps += bytes.Count(seg, s.comma)
					end, ok, term, nls = i+nl+1, true, 1+btoi(prev(i+nl) == '\r'), nls+1
				case hi < len(w): // at the limit
					seps += bytes.Count(seg, s.comma)
					i = hi
				case s.eof:
					seps += bytes.Count(seg, s.comma)
					end, ok, term = len(w), true, btoi(prev(len(w)) == '\r')
				default:
					// Read on, but not with a delimiter cut in two.
					p := len(w)
					for k := max(i, len(w)-lc+1); k < len(w); k++ {
						if w[k] == s.comma[0] {
							p = k
							break
						}
					}
					seps += bytes.Count(w[i:p], s.comma)
					if p > i {
						mode = inField
						if p-lc >= i && bytes.Equal(w[p-lc:p], s.comma) {
							mode = atField
						}
					}
					i = p
					break steps
				}
			case inQuotes:
				hi := min(len(w), lim)
				q := bytes.IndexByte(w[i:hi], '"')
				if q < 0 {
					nls += bytes.Count(w[i:hi], newline)
					switch {
					case hi < len(w): // at the limit
						i = hi
					case s.eof: // the input ends the field
						end, ok, term = len(w), s.lazy, btoi(prev(len(w)) == '\r')
					default:
						i = hi
						break steps
					}
					continue
				}
				q += i
				nls += bytes.Count(w[i:q], newline)
				r := w[q+1:] // what follows the quote
				switch {
				case !s.eof && (len(r) == 0 || len(r) == 1 && r[0] == '\r' || len(r) < lc && bytes.HasPrefix(s.comma, r)):
					i = q // not read yet
					break steps
				case len(r) > 0 && r[0] == '"': // "": a quote
					i = q + 2
				case bytes.HasPrefix(r, s.comma): // the field ends, another starts
					seps++
					mode, i = atField, q+1+lc
				case len(r) == 0 || len(r) == 1 && r[0] == '\r': // the input ends
					end, ok, term = len(w), true, len(r)
				case r[0] == '\n':
					end, ok, term, nls = q+2, true, 1, nls+1
				case r[0] == '\r' && r[1] == '\n':
					end, ok, term, nls = q+3, true, 2, nls+1
				case s.lazy: // a lone quote, kept
					i = q + 1
				default: // ErrQuote
					mode, i = toEOL, q+1
				}
			}
			if seps > s.maxFields {
				hold = false // too many fields: only the head is kept
			}
		}
		if seps > s.maxFields {
			hold = false
		}
		if end >= 0 {
			i = end
		}
		if i > 0 {
			last = w[i-1]
		}
		if end < 0 || len(s.held) > 0 || !hold {
			s.keep(w[:i], hold)
		}
		base += i
		_, _ = s.in.Discard(i)
	}
	c.end = c.start + nls - btoi(last == '\n')
	s.line = c.start - 1 + nls
	c.size = base - term
	switch {
	case len(s.held) == 0:
		s.one[0] = w[:end:end] // the whole record was in the buffer
		c.parts = s.one[:]
	case hold:
		c.parts = s.held
	default:
		c.parts = s.held[:1]
	}
	s.limit(c, seps+btoi(ok), past)
	return nil
}

// limit sets c's error if c is over a limit: if past, it went over
// MaxLineBytes, and was cut at the end of the line where it did.
func (s *csvScanner) limit(c *csvChunk, fields int, past bool) {
	switch {
	case past || c.size > s.maxLen:
		c.err = s.tooLong
	case fields > s.maxFields:
		c.err = s.tooMany
	}
}

// newline is what bytes.Count counts lines with.
var newline = []byte{'\n'}

// keep appends b to the record held: all of it if hold, or else only as
// much as fills the first block, the record's head, and it drops the
// other blocks.
func (s *csvScanner) keep(b []byte, hold bool) {
	if !hold && len(s.held) > 1 {
		clear(s.held[1:])
		s.held = s.held[:1]
	}
	for len(b) > 0 {
		n := len(s.held)
		if n == 0 || len(s.held[n-1]) == rawHead {
			if !hold && n > 0 {
				return
			}
			blk := s.spare
			if blk == nil {
				blk = make([]byte, 0, rawHead)
			}
			s.held, s.spare, n = append(s.held, blk), nil, n+1
		}
		k := min(len(b), rawHead-len(s.held[n-1]))
		s.held[n-1] = append(s.held[n-1], b[:k]...)
		b = b[k:]
	}
}

// release drops the record held, keeping a block for the next.
func (s *csvScanner) release() {
	if len(s.held) > 0 {
		s.spare = s.held[0][:0]
		clear(s.held)
		s.held = s.held[:0]
	}
	s.one[0] = nil
}

// peek returns the input's buffered bytes, reading first if fewer than n
// are buffered, until there are n or the input ends.
func (s *csvScanner) peek(n int) ([]byte, error) {
	if s.in.Buffered() < n && !s.eof {
		_, err := s.in.Peek(n)
		switch {
		case errors.Is(err, io.EOF):
			s.eof = true
		case err != nil:
			return nil, err
		}
	}
	w, _ := s.in.Peek(s.in.Buffered())
	return w, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
