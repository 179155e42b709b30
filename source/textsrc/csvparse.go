package textsrc

import (
	"encoding/csv"
	"errors"
	"io"
)

// csvParser has encoding/csv parse the records csvScanner does not split
// itself, one at a time, through one csv.Reader that reads each record's
// bytes in turn. The fields and errors are those encoding/csv gives when
// it reads the whole input, and so are the errors' positions, once their
// lines are counted from the record's first line in the input (the reader
// does not see the empty lines, nor the records it does not parse).
type csvParser struct {
	src pending
	cr  *csv.Reader
	cfg config
}

func newCSVParser(cfg config) *csvParser {
	p := &csvParser{cfg: cfg}
	p.reset()
	return p
}

// reset gives the parser a new csv.Reader.
func (p *csvParser) reset() {
	p.src = pending{}
	p.cr = csv.NewReader(&p.src)
	p.cr.Comma = p.cfg.comma
	p.cr.LazyQuotes = p.cfg.lazyQuotes
	p.cr.FieldsPerRecord = -1
}

// record returns the fields of the record c, its text (or its head, and
// then cut), and its error: the limit it is over, or its syntax error.
func (p *csvParser) record(c *csvChunk) (fields []string, text string, cut bool, err error) {
	switch {
	case c.err != nil:
		text, cut = c.head()
		return nil, text, cut, c.err
	case c.fields != nil: // split by the scanner
		return c.fields, c.text, false, nil
	}
	fields, err = p.parse(c)
	text, cut = c.head()
	return fields, text, cut, err
}

// parse returns the fields of the record c, and its syntax error, if any:
// a *csv.ParseError with its lines counted in the input.
func (p *csvParser) parse(c *csvChunk) ([]string, error) {
	p.src = pending{parts: c.parts}
	n := 0
	for _, b := range c.parts {
		n += len(b)
	}
	off := p.cr.InputOffset()
	fields, err := p.cr.Read()
	if p.cr.InputOffset()-off != int64(n) {
		// encoding/csv ended the record elsewhere than csvScanner did,
		// which the fuzz test says never happens: start afresh rather
		// than read the next record from this one's rest.
		p.reset()
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		shift := c.start - pe.StartLine
		err = &csv.ParseError{StartLine: c.start, Line: pe.Line + shift, Column: pe.Column, Err: pe.Err}
	}
	return fields, err
}

// pending reads the parts of a record, in order.
type pending struct {
	parts [][]byte
	off   int // how much of parts[0] was read
}

func (r *pending) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && r.off == len(r.parts[0]) {
		r.parts, r.off = r.parts[1:], 0
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0][r.off:])
	r.off += n
	return n, nil
}
