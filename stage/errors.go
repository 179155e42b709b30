package stage

import "github.com/conveyor-go/conveyor/internal/flow"

// Error is a failed item: the stage's name and position, the item's label
// and the cause. Use errors.As to get it from ExitStatus.Err.
type Error = flow.Error

// PanicError is a panic in user code turned into an error; it carries the
// panic value and the stack. errors.Is sees through it when the value is an
// error.
type PanicError = flow.PanicError

// BuildError reports a stage or pipeline that cannot run; it matches
// pipeline.ErrInvalid.
type BuildError = flow.BuildError
