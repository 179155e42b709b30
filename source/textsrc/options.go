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
	maxLine    int    // the most bytes of a line, or of a CSV record
	maxFields  int    // the most fields of a CSV record
	maxBytes   int64  // the most bytes read after decompression; 0 for no cap
	csvOnly    string // the first option given that applies to CSV only
	bad        string // why an option's value is invalid, or ""
}

// The limits' defaults. They bound the memory a source holds whatever its
// input: a line or record is at most DefaultMaxLineBytes, and a record of
// DefaultMaxFields fields costs a few MiB.
const (
	// DefaultMaxLineBytes is the longest line, or CSV record, a source
	// emits unless MaxLineBytes says otherwise: 16 MiB.
	DefaultMaxLineBytes = 16 << 20
	// DefaultMaxFields is the most fields a CSV record may have unless
	// MaxFields says otherwise.
	DefaultMaxFields = 100_000
)

// collect applies opts for a source of the kind ("lines" or "csv") reading
// the input named name. It returns the reason the options make the source
// invalid, or "".
func collect(kind, name string, opts []Option) (config, string) {
	c := config{comma: ',', maxLine: DefaultMaxLineBytes, maxFields: DefaultMaxFields}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.bad != "" {
		return c, fmt.Sprintf("%s (%s)", c.bad, name)
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

// MaxLineBytes sets the longest line a source emits, or the longest CSV
// record (all its lines, for a record with quoted line breaks), in bytes,
// line ending excluded; DefaultMaxLineBytes (16 MiB) by default. n must be
// positive.
//
// A longer line is not held: the source reads on to its end without
// keeping it, and rejects it with an error naming "file:line" that matches
// ErrLineTooLong, under the pipeline's error policy, then goes on with the
// next line.
//
// A CSV source emits a longer record as malformed (ErrRecordTooLong), for
// the decode stages to fail under their policy; one whose quote is left
// open ends with the line where it goes over the limit (see CSV).
func MaxLineBytes(n int) Option {
	return optionFunc{"MaxLineBytes", false, func(c *config) {
		if n <= 0 {
			c.bad = fmt.Sprintf("MaxLineBytes(%d): the limit must be positive", n)
		}
		c.maxLine = n
	}}
}

// MaxFields sets the most fields a CSV record may have; DefaultMaxFields
// (100,000) by default. n must be positive. A record with more is emitted
// as malformed (ErrTooManyFields), naming "file:line", without being split
// into fields, and reading goes on with the next.
func MaxFields(n int) Option {
	return optionFunc{"MaxFields", true, func(c *config) {
		if n <= 0 {
			c.bad = fmt.Sprintf("MaxFields(%d): the limit must be positive", n)
		}
		c.maxFields = n
	}}
}

// MaxBytes caps the bytes a source reads from its input, counted after
// decompression; by default there is no cap. Past it the source stops
// reading and fails the run, whatever the error policy, with an error
// naming "file:line" that matches ErrInputTooLarge: it stops a gzip bomb
// early, and bounds the time an untrusted input can take. n must be
// positive.
func MaxBytes(n int64) Option {
	return optionFunc{"MaxBytes", false, func(c *config) {
		if n <= 0 {
			c.bad = fmt.Sprintf("MaxBytes(%d): the cap must be positive", n)
		}
		c.maxBytes = n
	}}
}

// checkComma reports a delimiter encoding/csv would refuse, before it does so
// with a message that names neither the delimiter nor the input.
func checkComma(name string, r rune) error {
	if r == 0 || r == '"' || r == '\r' || r == '\n' || !utf8.ValidRune(r) || r == utf8.RuneError {
		return fmt.Errorf("textsrc: %s: invalid CSV delimiter %q", name, r)
	}
	return nil
}
