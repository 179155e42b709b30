package textsrc

import (
	"fmt"
	"unicode/utf8"
)

// Option configures a source of this package. An option that does not apply
// to the source it is given to (Comma or LazyQuotes on Lines) makes that
// source invalid: the pipeline reports it, naming the option and the
// source, before anything runs (CodeInvalid).
type Option interface{ apply(*config) }

// optionFunc is the option named name; csv marks those for CSV only.
type optionFunc struct {
	name string
	csv  bool // applies to CSV sources only
	f    func(*config)
}

func (f optionFunc) apply(c *config) {
	if f.csv && c.csvOnly == "" {
		c.csvOnly = f.name
	}
	f.f(c)
}

// gzipMode says whether the input is gzip-compressed.
type gzipMode uint8

const (
	gzipAuto gzipMode = iota // detected from the gzip magic bytes
	gzipOn                   // always
	gzipOff                  // never
)

type config struct {
	gzip       gzipMode
	comma      rune
	lazyQuotes bool
	csvOnly    string // the first option given that applies to CSV only
}

// collect applies opts for a source of the kind ("lines" or "csv") reading
// the input named name. It returns the reason the options make the source
// invalid, or "".
func collect(kind, name string, opts []Option) (config, string) {
	c := config{comma: ','}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if kind != "csv" && c.csvOnly != "" {
		return c, fmt.Sprintf("option %s does not apply to a %s source (%s): it is for CSV", c.csvOnly, kind, name)
	}
	return c, ""
}

// Gzip makes the source decompress its input as gzip whatever its first
// bytes are. By default the input is decompressed when it starts with the
// gzip magic bytes (0x1f 0x8b), and read as it is otherwise.
func Gzip() Option {
	return optionFunc{"Gzip", false, func(c *config) { c.gzip = gzipOn }}
}

// NoGzip makes the source read its input as it is, even when it starts with
// the gzip magic bytes.
func NoGzip() Option {
	return optionFunc{"NoGzip", false, func(c *config) { c.gzip = gzipOff }}
}

// Comma sets the field delimiter of a CSV source; ',' by default. It must be
// a valid rune other than '"', '\r', '\n' and the Unicode replacement
// character; another one fails the run when it starts.
func Comma(r rune) Option {
	return optionFunc{"Comma", true, func(c *config) { c.comma = r }}
}

// LazyQuotes makes a CSV source accept a quote in an unquoted field and a
// lone quote in a quoted field, as encoding/csv's Reader.LazyQuotes does,
// instead of emitting such rows as malformed.
func LazyQuotes() Option {
	return optionFunc{"LazyQuotes", true, func(c *config) { c.lazyQuotes = true }}
}

// checkComma reports a delimiter encoding/csv would refuse, before it does so
// with a message that names neither the delimiter nor the input.
func checkComma(name string, r rune) error {
	if r == 0 || r == '"' || r == '\r' || r == '\n' || !utf8.ValidRune(r) || r == utf8.RuneError {
		return fmt.Errorf("textsrc: %s: invalid CSV delimiter %q", name, r)
	}
	return nil
}
