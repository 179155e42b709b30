package flow

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sourcegraph/conc/panics"
)

// ErrInvalid is matched (errors.Is) by every error that reports a pipeline
// that cannot run: a type mismatch between stages, a bad option, a missing
// handler or sink.
var ErrInvalid = errors.New("invalid pipeline")

// Error is a failure of one item in one stage: the stage's name and position,
// the item's label (a label function's result, or "#N" for the N-th item the
// stage received, counting from 0) and the cause.
type Error struct {
	Stage string // the stage's name, e.g. "parmap" or one given with stage.Name
	Index int    // the stage's position in the chain; the source is 0
	Label string // the item's label: the seed's log_item
	Err   error  // the cause, as returned by user code or a *PanicError
}

func (e *Error) Error() string {
	return fmt.Sprintf("stage %d %q, item %s: %v", e.Index, e.Stage, quoteLabel(e.Label), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// quoteLabel quotes a label unless it is the default "#N" form, which reads
// better bare.
func quoteLabel(l string) string {
	if len(l) > 1 && l[0] == '#' {
		if _, err := strconv.Atoi(l[1:]); err == nil {
			return l
		}
	}
	return strconv.Quote(l)
}

// PanicError is a panic in user code (a handler, a predicate, a source or a
// sink), turned into an error that carries the panic value and the stack of
// the goroutine that panicked.
type PanicError struct {
	Value any
	Stack []byte
}

// NewPanicError captures the current stack; call it from the deferred
// function that recovered value.
func NewPanicError(value any) *PanicError {
	r := panics.NewRecovered(2, value)
	return &PanicError{Value: r.Value, Stack: r.Stack}
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so errors.Is sees
// through panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// BuildError reports a pipeline that cannot run. It matches ErrInvalid.
type BuildError struct {
	Stage  string // the stage at fault, "" for the pipeline as a whole
	Index  int    // its position in the chain; the source is 0
	Reason string
}

func (e *BuildError) Error() string {
	if e.Stage == "" {
		return "pipeline: " + e.Reason
	}
	return fmt.Sprintf("stage %d %q: %s", e.Index, e.Stage, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *BuildError) Is(target error) bool { return target == ErrInvalid }

// Permanent marks err as not worth retrying: the Retry policy gives up on it
// at once and applies its fallback.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
