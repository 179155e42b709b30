package textsrc

import (
	"bytes"
	"strings"
)

// fieldSpan is where a field is in a line: line[from:to], with each ""
// in it a quote when esc.
type fieldSpan struct {
	from, to int
	esc      bool
}

// split takes the record that is the line in the input's buffer, its line
// ending excluded, when it can tell that the record is that line: it
// reports false when a quoted field goes on past it (or may, with
// LazyQuotes), for slow to follow. It checks the limits, then splits the
// fields itself, as encoding/csv would, if the line has no syntax error:
// one string holds the record's text, and the fields are slices of it
// (a field with "" in it excepted). Otherwise encoding/csv parses the line,
// to give its error. The fuzz test checks that the fields are
// encoding/csv's.
func (s *csvScanner) split(c *csvChunk, line []byte) bool {
	c.size = len(line)
	if len(line) > s.maxLen {
		// Over the limit: the record ends with the line even if a quoted
		// field goes on (slow would cut it there).
		c.err = s.tooLong
		return true
	}
	if bytes.IndexByte(line, '"') < 0 {
		n := 1 + bytes.Count(line, s.comma)
		if n > s.maxFields {
			c.err = s.tooMany
			return true
		}
		c.text = string(line)
		c.fields = make([]string, n)
		sep, text := string(s.comma), c.text
		for i := range n - 1 {
			k := strings.Index(text, sep)
			c.fields[i], text = text[:k], text[k+len(sep):]
		}
		c.fields[n-1] = text
		return true
	}
	ended, ok := s.quotedLine(line)
	switch {
	case !ended:
		return false
	case len(s.spans) > s.maxFields:
		c.err = s.tooMany
	case ok:
		c.text = string(line)
		c.fields = make([]string, len(s.spans))
		for i, f := range s.spans {
			v := c.text[f.from:f.to]
			if f.esc {
				v = strings.ReplaceAll(v, `""`, `"`)
			}
			c.fields[i] = v
		}
	}
	return true
}

// quotedLine follows the quoting rules along line, the first line of a
// record without its line ending, and notes in s.spans where the fields
// are. It reports whether the record ends with the line, and if so
// whether encoding/csv reads it without a syntax error; s.spans then holds
// the fields before the error. A quoted field that goes on past the line,
// or a quote LazyQuotes keeps in one (which may), ends nothing.
func (s *csvScanner) quotedLine(line []byte) (ended, ok bool) {
	s.spans = s.spans[:0]
	lc := len(s.comma)
	for i := 0; ; { // i is where a field starts
		if i < len(line) && line[i] == '"' {
			f := fieldSpan{from: i + 1}
			for i++; ; i++ {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return false, false // the field goes on with the next line
				}
				i += j + 1
				if i == len(line) || line[i] != '"' {
					break
				}
				f.esc = true // "": a quote
			}
			f.to = i - 1
			switch rest := line[i:]; {
			case len(rest) == 0: // the field, and the record, end with the line
				s.spans = append(s.spans, f)
				return true, true
			case bytes.HasPrefix(rest, s.comma): // the field ends, another starts
				s.spans = append(s.spans, f)
				i += lc
				continue
			case s.lazy: // a lone quote, kept: the field goes on
				return false, false
			}
			return true, false // ErrQuote
		}
		end := len(line)
		if k := bytes.Index(line[i:], s.comma); k >= 0 {
			end = i + k
		}
		if !s.lazy && bytes.IndexByte(line[i:end], '"') >= 0 {
			return true, false // ErrBareQuote
		}
		s.spans = append(s.spans, fieldSpan{from: i, to: end})
		if end == len(line) {
			return true, true
		}
		i = end + lc
	}
}
