package promstats

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// escape returns name as a label value, and whether it had to change it.
// A label value must be valid UTF-8, or the scrape fails, so in a name that
// is not, each byte outside a valid sequence is written \xNN (two lower-case
// hex digits) and each backslash is doubled: two names that differ escape
// differently. A valid name is returned as it is.
func escape(name string) (string, bool) {
	if utf8.ValidString(name) {
		return name, false
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hex[name[i]>>4])
			b.WriteByte(hex[name[i]&0xf])
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	return b.String(), true
}

// onceSet remembers what has been logged, so that a scrape after scrape
// finding the same bad name logs it once. It stops remembering, and so
// stops logging, past max entries: a flood of bad names costs bounded
// memory and bounded log lines.
type onceSet struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

const onceSetMax = 1_000

// first reports whether key is new, and remembers it.
func (s *onceSet) first(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[key]; ok || len(s.seen) >= onceSetMax {
		return false
	}
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	s.seen[key] = struct{}{}
	return true
}
