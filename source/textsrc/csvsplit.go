package textsrc

import (
	"bytes"
	"strings"
)

// fieldSpan is where a field is in a record: from and to, with each ""
// in it a quote and each "\r\n" a "\n" when esc (as encoding/csv reads a
// quoted field).
type fieldSpan struct {
	from, to int
	esc      bool
}

// split takes the record that starts w, the input's buffer, when w shows
// where it ends, with a line ending, and returns that end; it returns -1
// for slow to follow the record otherwise: when it goes on past w, is
// longer than MaxLineBytes and quoted over lines (to be cut where the
// limit says), or has a quote LazyQuotes keeps in a quoted field.
//
// It checks the limits, then, if the record has no syntax error, splits it
// into fields itself, as encoding/csv would: one string holds the record's
// text, and the fields are slices of it (those with "" or "\r\n" in a
// quoted field excepted). Otherwise encoding/csv parses the record, to
// give its error. The fuzz test checks that the fields are encoding/csv's.
func (s *csvScanner) split(c *csvChunk, w []byte) int {
	nl := bytes.IndexByte(w, '\n')
	if nl < 0 {
		return -1
	}
	if line := w[:nl-btoi(nl > 0 && w[nl-1] == '\r')]; bytes.IndexByte(line, '"') < 0 {
		// No quote: the record is the line.
		c.size = len(line)
		n := 1 + bytes.Count(line, s.comma)
		switch {
		case len(line) > s.maxLen:
			c.err = s.tooLong
		case n > s.maxFields:
			c.err = s.tooMany
		default:
			c.text = string(line)
			c.fields = make([]string, n)
			sep, text := string(s.comma), c.text
			for i := range n - 1 {
				k := strings.Index(text, sep)
				c.fields[i], text = text[:k], text[k+len(sep):]
			}
			c.fields[n-1] = text
		}
		return nl + 1
	}
	end, ok := s.quoted(w, nl)
	if end < 0 {
		return -1
	}
	c.size = end - 1 - btoi(end >= 2 && w[end-2] == '\r')
	switch {
	case c.size > s.maxLen:
		return -1
	case len(s.spans) > s.maxFields:
		c.err = s.tooMany
	case ok:
		c.text = string(w[:c.size])
		c.fields = make([]string, len(s.spans))
		for i, f := range s.spans {
			v := c.text[f.from:f.to]
			if f.esc {
				v = strings.ReplaceAll(strings.ReplaceAll(v, `""`, `"`), "\r\n", "\n")
			}
			c.fields[i] = v
		}
	}
	return end
}

// quoted follows the quoting rules from the start of w, where a record
// with a quote starts, its first line ending at eol, and notes in s.spans
// where the record's fields are. It returns where the record ends in w,
// line ending included, and whether encoding/csv reads it without a syntax
// error (s.spans then holds the fields before the error); or -1 when w
// does not show where it ends, or LazyQuotes keeps a quote in a quoted
// field.
func (s *csvScanner) quoted(w []byte, eol int) (end int, ok bool) {
	s.spans = s.spans[:0]
	lc := len(s.comma)
	// lineEnd returns where the line k is on ends, its "\n" included,
	// or -1 if w does not show it.
	lineEnd := func(k int) int {
		if n := bytes.IndexByte(w[k:], '\n'); n >= 0 {
			return k + n + 1
		}
		return -1
	}
	for i := 0; ; { // i is where a field starts; eol, where its line ends
		if i == len(w) {
			return -1, false
		}
		if w[i] == '"' {
			f := fieldSpan{from: i + 1}
			for i++; ; i++ {
				j := bytes.IndexByte(w[i:], '"')
				if j < 0 {
					return -1, false
				}
				i += j + 1
				if i == len(w) || w[i] != '"' {
					break
				}
				f.esc = true // "": a quote
			}
			f.to = i - 1
			if f.to > eol { // the field holds line breaks
				f.esc = f.esc || bytes.Contains(w[f.from:f.to], []byte("\r\n"))
				if eol = lineEnd(i) - 1; eol < 0 {
					return -1, false
				}
			}
			switch rest := w[i:]; {
			case len(rest) < 2 || len(rest) < lc && bytes.HasPrefix(s.comma, rest):
				return -1, false // what follows is not read yet
			case bytes.HasPrefix(rest, s.comma): // the field ends, another starts
				s.spans = append(s.spans, f)
				i += lc
				continue
			case rest[0] == '\n': // the field, and the record, end with the line
				s.spans = append(s.spans, f)
				return i + 1, true
			case rest[0] == '\r' && rest[1] == '\n':
				s.spans = append(s.spans, f)
				return i + 2, true
			case s.lazy: // a lone quote, kept: the field goes on
				return -1, false
			}
			return lineEnd(i), false // ErrQuote: the record ends with the line
		}
		last := eol - btoi(eol > i && w[eol-1] == '\r') // where the line's text ends
		end := last
		if k := bytes.Index(w[i:last], s.comma); k >= 0 {
			end = i + k
		}
		if !s.lazy && bytes.IndexByte(w[i:end], '"') >= 0 {
			return eol + 1, false // ErrBareQuote: the record ends with the line
		}
		s.spans = append(s.spans, fieldSpan{from: i, to: end})
		if end == last {
			return eol + 1, true
		}
		i = end + lc
	}
}
