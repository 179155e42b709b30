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

// Option configures a stage. An option that does not apply to a stage (an
// Ordered on a Map) is ignored by it, but an option given an invalid value
// (Buffer(0), MaxWait(0)) makes any stage invalid: the mistake is reported
// wherever it is made.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	name    string
	buffer  int
	ordered bool
	label   any
	policy  *flow.Policy
	maxWait time.Duration
	window  int
	every   int
	err     string
}

func collect(defaultName string, opts []Option) options {
	o := options{name: defaultName, buffer: DefaultBuffer, every: 1}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return o
}

// Name names the stage in errors, logs and metrics. Default: the kind of
// stage ("map", "parmap", "batch", ...).
func Name(name string) Option {
	return optionFunc(func(o *options) { o.name = name })
}

// Buffer sets the capacity, in items, of the buffers of a concurrent stage
// (ParMap, KeyBy, TimeWindow, Batch with MaxWait). A full buffer makes the stage before it wait.
// ParMap's buffers hold whole chunks: their capacity is rounded up to a
// multiple of the chunk size, min(64, Buffer). Sequential stages have no
// buffer and ignore it.
func Buffer(items int) Option {
	return optionFunc(func(o *options) {
		if items < 1 {
			o.err = fmt.Sprintf("buffer must be >= 1 item, got %d", items)
		}
		o.buffer = items
	})
}

// Ordered makes ParMap emit results in input order. Unordered (the default)
// emits each result as soon as it is ready and is the faster path.
func Ordered() Option {
	return optionFunc(func(o *options) { o.ordered = true })
}

// Window bounds how far an ordered ParMap may run ahead of the oldest item
// still in progress, in items. A slow head item then holds back the source
// instead of growing memory. Default: DefaultWindow, as many items as the
// same ParMap unordered may hold. A small window also makes the chunks items
// travel in small: at most Window / (workers + 2) items each.
func Window(items int) Option {
	return optionFunc(func(o *options) {
		if items < 1 {
			o.err = fmt.Sprintf("window must be >= 1 item, got %d", items)
		}
		o.window = items
	})
}

// Label sets the function that names an item in logs and errors: the seed's
// log_item. T must be the stage's input type; a mismatch is reported when
// the pipeline is built. Without it an item is named "#N", its position in
// the stage's input counting from 0. The function is called only when a
// label is needed (an error, a log line), never per item otherwise.
func Label[T any](f func(T) string) Option {
	return optionFunc(func(o *options) { o.label = f })
}

// OnError overrides the pipeline's error policy for this stage.
func OnError(p Policy) Option {
	return optionFunc(func(o *options) { o.policy = &p })
}

// MaxWait makes Batch flush a partial batch once its first item has waited
// d. Without it a Batch only flushes full batches, and the last partial one
// at the end of the stream.
func MaxWait(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d <= 0 {
			o.err = fmt.Sprintf("max wait must be > 0, got %v", d)
		}
		o.maxWait = d
	})
}

// Every makes Log write one line per n items instead of one per item.
func Every(n int) Option {
	return optionFunc(func(o *options) {
		if n < 1 {
			o.err = fmt.Sprintf("log every must be >= 1, got %d", n)
		}
		o.every = n
	})
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
