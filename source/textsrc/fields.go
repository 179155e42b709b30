package textsrc

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// field is a struct field DecodeCSV fills, found once per type.
type field struct {
	name     string // the csv tag's name, or the Go field's name
	tagged   bool   // the name comes from a tag: the column is required
	optional bool   // the tag says ",optional": the column may be absent
	index    []int  // for reflect.Value.FieldByIndex
	set      setter
}

// setter converts s and stores it in v, an addressable value of the field's
// type.
type setter func(v reflect.Value, s string) error

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// structFields returns the fields of t that DecodeCSV fills: the exported
// ones, promoted ones included, but not those tagged `csv:"-"`, and not
// untagged ones of a type it cannot convert to. A tagged field of such a
// type is an error.
func structFields(t reflect.Type) ([]field, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("textsrc: DecodeCSV decodes into structs, not %v", t)
	}
	probe := reflect.New(t).Elem()
	var fs []field
	for _, sf := range reflect.VisibleFields(t) {
		tag, hasTag := sf.Tag.Lookup("csv")
		if tag == "-" || (sf.Anonymous && !hasTag && isStruct(sf.Type)) {
			continue // an embedded struct's fields are listed on their own
		}
		if !sf.IsExported() || !settable(probe, sf.Index) {
			continue
		}
		name, flags, _ := strings.Cut(tag, ",")
		f := field{name: name, tagged: name != "", index: sf.Index}
		if !f.tagged {
			f.name = sf.Name
		}
		for flag := range strings.SplitSeq(flags, ",") {
			switch flag {
			case "optional":
				f.optional = true
			case "":
			default:
				return nil, fmt.Errorf("textsrc: %v.%s: unknown csv tag option %q", t, sf.Name, flag)
			}
		}
		set, err := setterFor(sf.Type)
		if err != nil {
			if !hasTag {
				continue // not meant for DecodeCSV
			}
			return nil, fmt.Errorf("textsrc: %v.%s: %w", t, sf.Name, err)
		}
		f.set = set
		fs = append(fs, f)
	}
	return fs, nil
}

// isStruct reports whether t is a struct or a pointer to one.
func isStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// settable reports whether the field at index can be set in a value of the
// struct: not when it is promoted through an embedded pointer, which may be
// nil.
func settable(v reflect.Value, index []int) bool {
	for i, x := range index {
		v = v.Field(x)
		if i < len(index)-1 && v.Kind() == reflect.Pointer {
			return false
		}
	}
	return v.CanSet()
}

// setterFor returns the setter of a field of type t: string, bool, the
// integer and float kinds, time.Duration, a type whose pointer is an
// encoding.TextUnmarshaler (time.Time among them), or a pointer to one of
// those, which an empty value leaves nil.
func setterFor(t reflect.Type) (setter, error) {
	if t.Kind() == reflect.Pointer {
		elem := t.Elem()
		if elem.Kind() == reflect.Pointer {
			return nil, fmt.Errorf("unsupported type %v", t)
		}
		set, err := setterFor(elem)
		if err != nil {
			return nil, err
		}
		return func(v reflect.Value, s string) error {
			if s == "" {
				v.SetZero()
				return nil
			}
			p := reflect.New(elem)
			if err := set(p.Elem(), s); err != nil {
				return err
			}
			v.Set(p)
			return nil
		}, nil
	}
	name := t.String()
	fail := func(s string, err error) error {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err // strconv.ErrSyntax or ErrRange: the value is already said
		}
		return fmt.Errorf("cannot parse %q as %s: %w", s, name, err)
	}
	switch {
	case t == durationType:
		return func(v reflect.Value, s string) error {
			d, err := time.ParseDuration(strings.TrimSpace(s))
			if err != nil {
				return fail(s, err)
			}
			v.SetInt(int64(d))
			return nil
		}, nil
	case t == timeType:
		return func(v reflect.Value, s string) error {
			tm, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
			if err != nil {
				return fail(s, err)
			}
			v.Set(reflect.ValueOf(tm))
			return nil
		}, nil
	case reflect.PointerTo(t).Implements(textType):
		return func(v reflect.Value, s string) error {
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				return fail(s, err)
			}
			return nil
		}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value, s string) error {
			v.SetString(s)
			return nil
		}, nil
	case reflect.Bool:
		return func(v reflect.Value, s string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return fail(s, err)
			}
			v.SetBool(b)
			return nil
		}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(v reflect.Value, s string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits())
			if err != nil {
				return fail(s, err)
			}
			v.SetInt(n)
			return nil
		}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(v reflect.Value, s string) error {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits())
			if err != nil {
				return fail(s, err)
			}
			v.SetUint(n)
			return nil
		}, nil
	case reflect.Float32, reflect.Float64:
		return func(v reflect.Value, s string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
			if err != nil {
				return fail(s, err)
			}
			v.SetFloat(f)
			return nil
		}, nil
	}
	return nil, fmt.Errorf("unsupported type %v", t)
}
