package stage

import (
	"fmt"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// DefaultBuffer is the capacity, in items, of the buffer in front of a
// concurrent stage when Buffer is not given. The seed bounded its queue at
// 100 items.
const DefaultBuffer = 100

// Option configures a stage. An option that does not apply to the stage it
// is given to (an Ordered on a Map, a MaxWait on a ParMap, a Window without
// Ordered) makes that stage invalid, as does an option given an invalid
// value (Buffer(0), MaxWait(0)): the mistake is reported wherever it is
// made, naming the option and the stage, before anything runs.
type Option interface{ apply(*options) }

// optionFunc is an option of kind opt.
type optionFunc struct {
	opt optKind
	f   func(*options)
}

func (f optionFunc) apply(o *options) {
	o.given |= f.opt
	f.f(o)
}

// optKind is a set of kinds of option: those given to a stage, or those
// that apply to a kind of stage.
type optKind uint16

const (
	optName optKind = 1 << iota
	optBuffer
	optOrdered
	optWindow
	optLabel
	optOnError
	optMaxWait
	optEvery
)

// optNames names each kind of option as its constructor is named.
var optNames = []string{"Name", "Buffer", "Ordered", "Window", "Label", "OnError", "MaxWait", "Every"}

// userCode is what every stage that calls a user function takes: Label and
// OnError apply to the calls.
const userCode = optName | optLabel | optOnError

// applies holds the options that apply to each kind of stage, by the kind
// collect is given. A stage of a kind not here takes only Name.
var applies = map[string]optKind{
	"map": userCode,
	// A Map of a PerWorker handler runs behind a buffer (MapStage).
	"per-worker map": userCode | optBuffer,
	"filter":         userCode,
	"dedup":          userCode,
	"tap":            userCode,
	"flatmap":        userCode,
	"reduce":         userCode,
	"log":            userCode | optEvery,
	"parmap":         userCode | optBuffer | optOrdered | optWindow,
	"keyby":          userCode | optBuffer,
	"batch":          optName | optMaxWait | optBuffer,
	"window":         optName | optBuffer,
	"unbatch":        optName,
	"ratelimit":      optName,
}

type options struct {
	name    string
	buffer  int
	ordered bool
	label   any
	policy  *flow.Policy
	maxWait time.Duration
	window  int
	every   int
	given   optKind // the kinds of option given
	err     string
}

// collect applies opts for a stage of the given kind, which is also its
// default name. An option that does not apply to the kind sets err, unless
// an invalid value already did.
func collect(kind string, opts []Option) options {
	o := options{name: kind, buffer: DefaultBuffer, every: 1}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.err == "" {
		o.err = o.misapplied(kind)
	}
	return o
}

// misapplied names the first option given that does not apply to a stage
// of the kind, or returns "".
func (o options) misapplied(kind string) string {
	allowed := applies[kind] | optName
	if bad := o.given &^ allowed; bad != 0 {
		for i, n := range optNames {
			if bad&(1<<i) != 0 {
				return fmt.Sprintf("option %s does not apply to a %s stage", n, kind)
			}
		}
	}
	switch {
	case kind == "parmap" && o.given&optWindow != 0 && !o.ordered:
		return "option Window applies to a parmap stage only with Ordered"
	case kind == "batch" && o.given&optBuffer != 0 && o.given&optMaxWait == 0:
		return "option Buffer applies to a batch stage only with MaxWait"
	}
	return ""
}

// Name names the stage in errors, logs and metrics. Default: the kind of
// stage ("map", "parmap", "batch", ...).
func Name(name string) Option {
	return optionFunc{optName, func(o *options) { o.name = name }}
}

// Buffer sets the capacity, in items, of the buffers of a concurrent stage
// (ParMap, KeyBy, TimeWindow, Batch with MaxWait, Map of a PerWorker
// handler). A full buffer makes the stage before it wait.
// ParMap's buffers hold whole chunks: their capacity is rounded up to a
// multiple of the chunk size, min(64, Buffer). Sequential stages have no
// buffer: Buffer does not apply to them, nor to a Batch without MaxWait.
func Buffer(items int) Option {
	return optionFunc{optBuffer, func(o *options) {
		if items < 1 {
			o.err = fmt.Sprintf("buffer must be >= 1 item, got %d", items)
		}
		o.buffer = items
	}}
}

// Ordered makes ParMap emit results in input order. Unordered (the default)
// emits each result as soon as it is ready and is the faster path.
func Ordered() Option {
	return optionFunc{optOrdered, func(o *options) { o.ordered = true }}
}

// Window bounds how far an ordered ParMap may run ahead of the oldest item
// still in progress, in items. A slow head item then holds back the source
// instead of growing memory. Default: DefaultWindow, as many items as the
// same ParMap unordered may hold. A small window also makes the chunks items
// travel in small: at most Window / (workers + 2) items each.
func Window(items int) Option {
	return optionFunc{optWindow, func(o *options) {
		if items < 1 {
			o.err = fmt.Sprintf("window must be >= 1 item, got %d", items)
		}
		o.window = items
	}}
}

// Label sets the function that names an item in logs and errors: the seed's
// log_item. T must be the stage's input type; a mismatch is reported when
// the pipeline is built. Without it an item is named "#N", its position in
// the stage's input counting from 0. The function is called only when a
// label is needed (an error, a log line), never per item otherwise.
func Label[T any](f func(T) string) Option {
	return optionFunc{optLabel, func(o *options) { o.label = f }}
}

// OnError overrides the pipeline's error policy for this stage.
func OnError(p Policy) Option {
	return optionFunc{optOnError, func(o *options) { o.policy = &p }}
}

// MaxWait makes Batch flush a partial batch once its first item has waited
// d. Without it a Batch only flushes full batches, and the last partial one
// at the end of the stream.
func MaxWait(d time.Duration) Option {
	return optionFunc{optMaxWait, func(o *options) {
		if d <= 0 {
			o.err = fmt.Sprintf("max wait must be > 0, got %v", d)
		}
		o.maxWait = d
	}}
}

// Every makes Log write one line per n items instead of one per item.
func Every(n int) Option {
	return optionFunc{optEvery, func(o *options) {
		if n < 1 {
			o.err = fmt.Sprintf("log every must be >= 1, got %d", n)
		}
		o.every = n
	}}
}

// labelFor returns the label option as a func(In) string, or an error naming
// both types when it was made for another type.
func labelFor[In any](o options) (func(In) string, string) {
	if o.label == nil {
		return nil, ""
	}
	f, ok := o.label.(func(In) string)
	if !ok {
		return nil, fmt.Sprintf("label function is %T, but the stage takes %v", o.label, flow.TypeOf[In]())
	}
	return f, ""
}

// guard makes the per-stage guard from the options.
func guard[In any](sc *flow.Scope, o options) (*flow.Guard[In], error) {
	label, bad := labelFor[In](o)
	if bad != "" {
		return nil, sc.Invalid(bad)
	}
	return flow.NewGuard(sc, o.policy, label)
}
