package textsink

import (
	"time"

	"github.com/conveyor-go/conveyor/sink"
)

// Option configures a sink of this package to an io.Writer (Lines, JSONL,
// CSV).
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	sink []sink.Option
}

func collect(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// FlushEvery sets how long a line may wait in the sink's buffer: a line is
// handed to the writer d after it was written, or sooner, whether more
// lines follow or the input is idle, and the receipts of the items written
// are settled then. It is sink.DefaultFlushEvery (100 ms) by default; d
// must be positive, or the pipeline reports the sink invalid.
func FlushEvery(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sink = append(c.sink, sink.FlushEvery(d)) })
}

// DeadLetterOption configures DeadLetters: MaxRaw.
type DeadLetterOption interface{ applyDeadLetter(*deadLetterConfig) }

type deadLetterOptionFunc func(*deadLetterConfig)

func (f deadLetterOptionFunc) applyDeadLetter(c *deadLetterConfig) { f(c) }

type deadLetterConfig struct{ maxRaw int }

func collectDeadLetter(opts []DeadLetterOption) deadLetterConfig {
	c := deadLetterConfig{maxRaw: DefaultMaxRaw}
	for _, o := range opts {
		if o != nil {
			o.applyDeadLetter(&c)
		}
	}
	return c
}

// DefaultMaxRaw is how many bytes of an item a dead letter keeps unless
// MaxRaw says otherwise: 64 KiB.
const DefaultMaxRaw = 64 << 10

// MaxRaw sets how many bytes of an item's text a dead letter keeps in its
// Raw (before base64 for bytes that need it); the rest is cut, and the
// dead letter flagged truncated with the size it had. It is DefaultMaxRaw
// by default; n must be positive, or the policy is invalid (code 2).
// A bad line longer than the cap cannot be fed again from its dead letter:
// to keep every line whole, set it to the source's longest line
// (textsrc.MaxLineBytes, 16 MiB by default).
func MaxRaw(n int) DeadLetterOption {
	return deadLetterOptionFunc(func(c *deadLetterConfig) { c.maxRaw = n })
}
