package stage

import (
	"reflect"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// Stage is any stage value. The pipeline checks that each stage's In is the
// previous stage's Out before anything runs.
type Stage interface {
	// Name is used in errors, logs and metrics.
	Name() string
	// In and Out are the item types the stage takes and gives.
	In() reflect.Type
	Out() reflect.Type
	// Next builds stages whose types follow from Out (Filter, Tap, Batch,
	// Log); the pipeline's untyped chain methods use it.
	Next() Next
	// Err says why the stage cannot run (a bad option, a nil function), or
	// is nil.
	Err() error
	flow.Attacher
}

// Of is a stage that takes In items and gives Out items. It is made by the
// constructors of this package and holds only configuration, so one value
// can be reused across pipelines and runs.
type Of[In, Out any] struct {
	name string
	// invalid, when not empty, says why the stage cannot run; the pipeline
	// reports it as an invalid pipeline before anything starts.
	invalid string
	next    func() Next
	attach  func(sc *flow.Scope, down flow.Port[Out]) (flow.Port[In], error)
}

var _ Stage = (*Of[int, string])(nil)

// Name returns the stage's name.
func (s *Of[In, Out]) Name() string { return s.name }

// In returns the type of the items the stage takes.
func (s *Of[In, Out]) In() reflect.Type { return flow.TypeOf[In]() }

// Out returns the type of the items the stage gives.
func (s *Of[In, Out]) Out() reflect.Type { return flow.TypeOf[Out]() }

// Next returns the builder of stages that follow this one.
func (s *Of[In, Out]) Next() Next { return s.next() }

// Err says why the stage cannot run, or returns nil.
func (s *Of[In, Out]) Err() error {
	if s.invalid == "" {
		return nil
	}
	return &flow.BuildError{Stage: s.name, Reason: s.invalid}
}

// Attach wires the stage in front of down. It is called by the pipeline
// while it builds a run.
func (s *Of[In, Out]) Attach(sc *flow.Scope, down any) (any, error) {
	if s.invalid != "" {
		return nil, sc.Invalid(s.invalid)
	}
	d, err := flow.PortOf[Out](down)
	if err != nil {
		return nil, err
	}
	up, err := s.attach(sc, d)
	if err != nil {
		return nil, err
	}
	return flow.Metered(sc, up), nil
}

// Invalid returns a stage that cannot run: a pipeline using it reports
// reason, naming the stage, before anything starts (CodeInvalid). Packages
// that build stages use it to report bad arguments without panicking.
func Invalid[In, Out any](name, reason string) *Of[In, Out] {
	return invalidStage[In, Out](name, reason)
}

// invalidStage returns a stage that reports reason when a pipeline using it
// is built: misuse is an error from Run, never a panic.
func invalidStage[In, Out any](name, reason string) *Of[In, Out] {
	return &Of[In, Out]{name: name, invalid: reason, next: func() Next { return brokenNext{} }}
}

// newOf returns a valid stage; nx builds the stages that may follow it.
func newOf[In, Out any](name string, nx func() Next, attach func(*flow.Scope, flow.Port[Out]) (flow.Port[In], error)) *Of[In, Out] {
	return &Of[In, Out]{name: name, next: nx, attach: attach}
}
