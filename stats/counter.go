package stats

import "sync/atomic"

// Counter is one named int64 value. Every method costs a single atomic
// operation and is safe for concurrent use by any number of goroutines. The
// zero value is a usable counter holding 0, so a Counter may be embedded or
// declared without a constructor.
//
// A Counter must not be copied after first use (it wraps an atomic.Int64;
// go vet's copylocks check reports copies).
type Counter struct {
	v atomic.Int64
}

// Add adds d (which may be negative) to the counter and returns the new
// value. It costs one atomic add and is safe for concurrent use.
func (c *Counter) Add(d int64) int64 { return c.v.Add(d) }

// Set replaces the counter's value with v. It costs one atomic store and is
// safe for concurrent use; a concurrent Add is either applied before the
// store (and overwritten) or after it, never lost halfway.
func (c *Counter) Set(v int64) { c.v.Store(v) }

// Load returns the counter's current value. It costs one atomic load and is
// safe for concurrent use.
func (c *Counter) Load() int64 { return c.v.Load() }
