package sink

import (
	"fmt"
	"time"
)

// Option configures a sink made with New.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	every   time.Duration
	invalid string
}

// DefaultFlushEvery is the flush interval of a Flusher by default.
const DefaultFlushEvery = 100 * time.Millisecond

func collect(opts []Option) config {
	c := config{every: DefaultFlushEvery}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// FlushEvery sets the flush interval of a sink whose Writer is a Flusher:
// an item is flushed d after its Write returned, or sooner, plus the time
// the sink's goroutine takes to be scheduled and to flush. It is DefaultFlushEvery by default; d must be
// positive, or the pipeline reports the sink invalid.
func FlushEvery(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.invalid = fmt.Sprintf("flush interval must be positive, got %v", d)
			return
		}
		c.every = d
	})
}
