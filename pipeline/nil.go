package pipeline

import (
	"fmt"
	"reflect"
)

// isNil reports whether x is nil, or an interface holding a nil pointer (or
// map, func, ...), which == nil does not catch and whose methods would crash
// Run. what names the value for the error, with its type when it has one.
func isNil(x any, what string) (bool, string) {
	if x == nil {
		return true, what
	}
	v := reflect.ValueOf(x)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		if v.IsNil() {
			return true, fmt.Sprintf("%s: a nil %T", what, x)
		}
	}
	return false, ""
}
