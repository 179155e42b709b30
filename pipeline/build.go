package pipeline

import (
	"errors"
	"fmt"
	"slices"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// check finds everything that keeps the pipeline from running, before any
// goroutine starts: misuse while chaining, invalid stages, a missing sink,
// and connections whose types differ.
func (p *Pipeline) check() error {
	errs := slices.Clone(p.errs)
	if p.src != nil {
		if err := p.src.Err(); err != nil {
			errs = append(errs, at(err, 0))
		}
	}
	for i, s := range p.stages {
		if err := s.Err(); err != nil {
			errs = append(errs, at(err, i+1))
		}
	}
	if p.sink == nil {
		errs = append(errs, &flow.BuildError{Reason: "no sink: end the chain with Sink"})
	} else if err := p.sink.Err(); err != nil {
		errs = append(errs, at(err, len(p.stages)+1))
	}
	if len(errs) > 0 || p.src == nil {
		return errors.Join(errs...)
	}
	// Types are checked only between valid stages, so that each problem is
	// reported once, in its own words.
	prevName, prevOut := p.src.Name(), p.src.Out()
	for i, s := range p.stages {
		if s.In() != prevOut {
			errs = append(errs, &flow.BuildError{Stage: s.Name(), Index: i + 1, Reason: fmt.Sprintf(
				"takes %v, but stage %d %q before it gives %v", s.In(), i, prevName, prevOut)})
		}
		prevName, prevOut = s.Name(), s.Out()
	}
	if p.sink.In() != prevOut {
		errs = append(errs, &flow.BuildError{Stage: p.sink.Name(), Index: len(p.stages) + 1, Reason: fmt.Sprintf(
			"sink takes %v, but stage %d %q before it gives %v", p.sink.In(), len(p.stages), prevName, prevOut)})
	}
	return errors.Join(errs...)
}

// wire attaches every stage to the run, from the sink back to the source.
// It registers goroutines but starts none.
func (p *Pipeline) wire(run *flow.Run) error {
	last := len(p.stages) + 1
	up, err := p.sink.Attach(run.Scope(last, p.sink.Name()))
	if err != nil {
		return err
	}
	for i := len(p.stages) - 1; i >= 0; i-- {
		s := p.stages[i]
		if up, err = s.Attach(run.Scope(i+1, s.Name()), up); err != nil {
			return err
		}
	}
	return p.src.Start(run.Scope(0, p.src.Name()), up)
}

// at sets the chain position of a BuildError made before the stage knew it.
func at(err error, index int) error {
	var b *flow.BuildError
	if errors.As(err, &b) {
		c := *b
		c.Index = index
		return &c
	}
	return err
}
