package textsrc

import (
	"context"
	"encoding/csv"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/conveyor-go/conveyor/stage"
)

// DecodeCSV decodes each record into a T, a struct, matching the header's
// columns to its fields:
//
//   - a field tagged `csv:"name"` takes the column called name, matched
//     exactly or, failing that, ignoring case; the column is required unless
//     the tag says `csv:"name,optional"`;
//   - an untagged exported field takes the column of its Go name, ignoring
//     case, if there is one;
//   - a field tagged `csv:"-"`, and a column no field takes, are ignored.
//
// Fields may be strings, bools, integers, floats, time.Time (RFC 3339),
// time.Duration, a type whose pointer implements encoding.TextUnmarshaler,
// or a pointer to any of these, which an empty value leaves nil. Values
// other than strings are trimmed of surrounding spaces; an empty one is an
// error unless the field is a pointer. Values past the end of a short row
// are errors, unless their field is optional.
//
// It is a Map stage named "decode-csv" whose items are labelled "file:line",
// so that a failure names the row; opts are passed on to stage.Map after
// these defaults, and may override them or set the stage's error policy
// (stage.OnError). A value that does not convert fails its row with a
// *FieldError naming the input, line, column and value; so do a missing or
// ambiguous column (ErrMissingColumn, ErrDuplicateColumn) and a short row
// (ErrShortRow). A malformed record fails with its Err. Every such error is
// marked stage.Permanent, since decoding again gives the same result.
//
// A T that is not a struct, or a tagged field of a type it cannot convert
// to, fails every record with an error saying so.
//
// The columns are matched to fields once per distinct header, not per row.
// The stage may run in several pipelines at once.
func DecodeCSV[T any](opts ...stage.Option) *stage.Of[Record, T] {
	d := &csvDecoder[T]{plans: map[string]*plan{}}
	d.fields, d.setupErr = structFields(reflect.TypeFor[T]())
	opts = append([]stage.Option{stage.Name("decode-csv"), stage.Label(Record.Where)}, opts...)
	return stage.Map(func(_ context.Context, rec Record) (T, error) {
		v, err := d.decode(rec)
		return v, stage.Permanent(err)
	}, opts...)
}

// DecodeCSVMap turns each record into a map from the header's column names
// to the row's values. A row with more or fewer fields than the header
// fails with a *LineError wrapping csv.ErrFieldCount, a header with a name
// twice fails every row with ErrDuplicateColumn, and a malformed record with
// its Err: nothing is dropped unawares. Names, labels, options and errors
// are as for DecodeCSV.
func DecodeCSVMap(opts ...stage.Option) *stage.Of[Record, map[string]string] {
	opts = append([]stage.Option{stage.Name("decode-csv"), stage.Label(Record.Where)}, opts...)
	return stage.Map(func(_ context.Context, rec Record) (map[string]string, error) {
		m, err := recordMap(rec)
		return m, stage.Permanent(err)
	}, opts...)
}

func recordMap(rec Record) (map[string]string, error) {
	if rec.Err != nil {
		return nil, rec.Err
	}
	if len(rec.Fields) != len(rec.Header) {
		return nil, &LineError{File: rec.File, Line: rec.Line, EndLine: rec.EndLine, Err: fmt.Errorf(
			"%w: the row has %d, the header %d", csv.ErrFieldCount, len(rec.Fields), len(rec.Header))}
	}
	m := make(map[string]string, len(rec.Header))
	for i, name := range rec.Header {
		if _, dup := m[name]; dup {
			return nil, &FieldError{File: rec.File, Line: rec.Line, Field: name, Err: ErrDuplicateColumn}
		}
		m[name] = rec.Fields[i]
	}
	return m, nil
}

// maxPlans bounds the plans a DecodeCSV stage keeps: one per distinct
// header it has seen. Past it the cache starts again empty.
const maxPlans = 64

// csvDecoder is the state a DecodeCSV stage shares across its runs: T's
// fields, found once, and a plan per header.
type csvDecoder[T any] struct {
	fields   []field
	setupErr error // T cannot be decoded into

	last  atomic.Pointer[plan] // the plan used last: usually the one needed
	mu    sync.Mutex
	plans map[string]*plan // by headerKey
}

// plan says which column fills which field, for one header.
type plan struct {
	header []string
	cols   []column
	bad    *FieldError // File and Line unset: the header cannot fill T
}

type column struct {
	index int    // in the header
	name  string // the header's name for it
	f     *field
}

func (d *csvDecoder[T]) decode(rec Record) (T, error) {
	var out T
	if rec.Err != nil {
		return out, rec.Err
	}
	if d.setupErr != nil {
		return out, d.setupErr
	}
	p := d.plan(rec.Header)
	if p.bad != nil {
		e := *p.bad
		e.File, e.Line = rec.File, rec.Line
		return out, &e
	}
	v := reflect.ValueOf(&out).Elem()
	for _, c := range p.cols {
		if c.index >= len(rec.Fields) {
			if c.f.optional {
				continue
			}
			return out, &FieldError{File: rec.File, Line: rec.Line, Field: c.name, Err: ErrShortRow}
		}
		s := rec.Fields[c.index]
		if err := c.f.set(v.FieldByIndex(c.f.index), s); err != nil {
			return out, &FieldError{File: rec.File, Line: rec.Line, Field: c.name, Value: s, Err: err}
		}
	}
	return out, nil
}

// plan returns the plan for header, making it the first time header is
// seen. The records of one input share their header, so the last plan
// used is nearly always the one, found by comparing the header's names.
func (d *csvDecoder[T]) plan(header []string) *plan {
	if p := d.last.Load(); p != nil && slices.Equal(p.header, header) {
		return p
	}
	key := headerKey(header)
	d.mu.Lock()
	p, ok := d.plans[key]
	if !ok {
		if len(d.plans) >= maxPlans {
			clear(d.plans)
		}
		p = makePlan(d.fields, header)
		d.plans[key] = p
	}
	d.mu.Unlock()
	d.last.Store(p)
	return p
}

// headerKey is a map key that tells any two different headers apart.
func headerKey(header []string) string {
	var b strings.Builder
	for _, h := range header {
		b.WriteString(strconv.Itoa(len(h)))
		b.WriteByte(':')
		b.WriteString(h)
	}
	return b.String()
}

// makePlan matches the header's columns to fields.
func makePlan(fields []field, header []string) *plan {
	p := &plan{header: slices.Clone(header)}
	for i := range fields {
		f := &fields[i]
		idx, err := findColumn(header, f)
		switch {
		case err != nil:
			p.bad = &FieldError{Field: f.name, Err: err}
			return p
		case idx >= 0:
			p.cols = append(p.cols, column{index: idx, name: header[idx], f: f})
		case f.tagged && !f.optional:
			p.bad = &FieldError{Field: f.name, Err: ErrMissingColumn}
			return p
		}
	}
	return p
}

// findColumn returns the index of f's column in header, or -1 if it has
// none. A tagged field's name is matched exactly first, then ignoring case;
// an untagged field's ignoring case. More than one match is an error.
func findColumn(header []string, f *field) (int, error) {
	match := func(eq func(a, b string) bool) (int, error) {
		found := -1
		for i, h := range header {
			if eq(h, f.name) {
				if found >= 0 {
					return -1, ErrDuplicateColumn
				}
				found = i
			}
		}
		return found, nil
	}
	if f.tagged {
		if i, err := match(func(a, b string) bool { return a == b }); i >= 0 || err != nil {
			return i, err
		}
	}
	return match(strings.EqualFold)
}
