package pipeline

import (
	"slices"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// Pipeline is a chain of stages from a source to a sink, built with New and
// the chain methods, then started with Run.
//
// Each chain method returns a new Pipeline and leaves its receiver as it
// was, so a common prefix can be extended in several ways. Mistakes found
// while chaining (a nil stage, source or sink, even a nil pointer of a
// concrete type such as a nil *source.Of[int], or a function of the wrong
// type) are not panics:
// they are kept and reported by Run as an invalid pipeline (code 2) before
// anything runs.
type Pipeline struct {
	src    source.Source
	stages []stage.Stage
	sink   sink.Sink
	opts   []Option
	errs   []error // misuse found while chaining
}

// New starts a pipeline at src. opts apply to every Run of it.
func New(src source.Source, opts ...Option) *Pipeline {
	p := &Pipeline{src: src, opts: opts}
	if bad, reason := isNil(src, "nil source"); bad {
		p.src = nil // so that no method of it is called
		p.errs = append(p.errs, &flow.BuildError{Reason: reason})
	}
	return p
}

// clone returns a copy that can be extended without touching p.
func (p *Pipeline) clone() *Pipeline {
	c := *p
	c.stages = slices.Clip(c.stages)
	c.errs = slices.Clip(c.errs)
	return &c
}

// Via appends any stage value, such as one made by the stage package or a
// sub-chain made with stage.Chain.
func (p *Pipeline) Via(s stage.Stage) *Pipeline {
	c := p.clone()
	if bad, reason := isNil(s, "nil stage"); bad {
		c.errs = append(c.errs, &flow.BuildError{Stage: "via", Index: len(c.stages) + 1, Reason: reason})
		return c
	}
	c.stages = append(c.stages, s)
	return c
}

// Map appends a sequential stage running t's handler on each item, in order,
// in the goroutine of the stage before it. Make t with stage.Func,
// stage.Handle or stage.PerWorker.
func (p *Pipeline) Map(t stage.Task, opts ...stage.Option) *Pipeline {
	if bad, reason := isNil(t, "nil handler"); bad {
		return p.invalid("map", reason)
	}
	return p.Via(t.MapStage(opts...))
}

// ParMap appends a stage running t's handler on workers goroutines, unordered
// unless stage.Ordered is given; see stage.ParMap.
func (p *Pipeline) ParMap(workers int, t stage.Task, opts ...stage.Option) *Pipeline {
	if bad, reason := isNil(t, "nil handler"); bad {
		return p.invalid("parmap", reason)
	}
	return p.Via(t.ParMapStage(workers, opts...))
}

// FlatMap appends a stage that passes on every element of the slice its
// function returns; make t with stage.Flat.
func (p *Pipeline) FlatMap(t stage.FlatTask, opts ...stage.Option) *Pipeline {
	if bad, reason := isNil(t, "nil function"); bad {
		return p.invalid("flatmap", reason)
	}
	return p.Via(t.FlatMapStage(opts...))
}

// Filter appends a stage keeping the items for which keep returns true. keep
// is func(context.Context, T) (bool, error) or func(T) bool, where T is the
// previous stage's output type; another type is reported by Run.
func (p *Pipeline) Filter(keep any, opts ...stage.Option) *Pipeline {
	return p.follow(func(n stage.Next) stage.Stage { return n.Filter(keep, opts...) })
}

// Tap appends a stage calling f on each item and passing it on unchanged. f
// is func(context.Context, T) error or func(T).
func (p *Pipeline) Tap(f any, opts ...stage.Option) *Pipeline {
	return p.follow(func(n stage.Next) stage.Stage { return n.Tap(f, opts...) })
}

// Batch appends a stage grouping items into slices of size; see stage.Batch
// and stage.MaxWait.
func (p *Pipeline) Batch(size int, opts ...stage.Option) *Pipeline {
	return p.follow(func(n stage.Next) stage.Stage { return n.Batch(size, opts...) })
}

// Log appends a stage logging each item's label and the time since the run
// started; see stage.Log.
func (p *Pipeline) Log(msg string, opts ...stage.Option) *Pipeline {
	return p.follow(func(n stage.Next) stage.Stage { return n.Log(msg, opts...) })
}

// Sink ends the chain. Calling it again replaces the sink.
func (p *Pipeline) Sink(s sink.Sink) *Pipeline {
	c := p.clone()
	if bad, reason := isNil(s, "nil sink"); bad {
		c.errs = append(c.errs, &flow.BuildError{Stage: "sink", Index: len(c.stages) + 1, Reason: reason})
		return c
	}
	c.sink = s
	return c
}

// follow appends the stage that build makes for the last output type.
func (p *Pipeline) follow(build func(stage.Next) stage.Stage) *Pipeline {
	var n stage.Next
	switch {
	case len(p.stages) > 0:
		n = p.stages[len(p.stages)-1].Next()
	case p.src != nil:
		n = p.src.Next()
	default:
		return p.clone() // New(nil) is already reported
	}
	return p.Via(build(n))
}

func (p *Pipeline) invalid(name, reason string) *Pipeline {
	c := p.clone()
	c.errs = append(c.errs, &flow.BuildError{Stage: name, Index: len(c.stages) + 1, Reason: reason})
	return c
}
