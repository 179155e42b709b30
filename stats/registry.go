package stats

import (
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Registry is the shared, named-counter namespace of one pipeline run (the
// seed's Stats object). All methods are safe for concurrent use.
//
// A Registry must be created with New; the zero value and a nil *Registry
// are not usable (methods on nil panic). New records the start time that
// Elapsed measures from.
//
// Counters are never removed, so a *Counter obtained from Counter stays
// valid, and keeps feeding the Registry, for the Registry's whole life.
type Registry struct {
	start time.Time

	// counters maps name -> *Counter. sync.Map suits this workload exactly:
	// keys are written once and then read many times from many goroutines,
	// and in that regime Load takes no lock.
	counters sync.Map

	// totals is the set of names marked by SetTotal (name -> struct{}).
	totals sync.Map

	// n counts the names in counters, for Len.
	n atomic.Int64
}

// New returns an empty Registry whose clock starts now. It costs one small
// allocation and a clock read.
func New() *Registry {
	return &Registry{start: time.Now()}
}

// Counter returns the counter for name, creating it (at 0) on first use.
// For a name that already exists the lookup is lock-free (one sync.Map
// load); only the first use of a name allocates. Safe for concurrent use:
// racing first uses all get the same *Counter.
//
// Callers in hot loops should call Counter once and keep the result: each
// increment then costs one atomic add with no map lookup at all.
func (r *Registry) Counter(name string) *Counter {
	if c, ok := r.counters.Load(name); ok {
		return c.(*Counter)
	}
	// Slow path: first use. LoadOrStore settles races so that exactly one
	// Counter wins and every caller sees it.
	c, loaded := r.counters.LoadOrStore(name, new(Counter))
	if !loaded {
		r.n.Add(1)
	}
	return c.(*Counter)
}

// Set sets counter name to v (the seed's set_stats_val). It costs one
// lock-free lookup plus one atomic store and is safe for concurrent use.
func (r *Registry) Set(name string, v int64) { r.Counter(name).Set(v) }

// Add adds d to counter name and returns the new value (the seed's
// inc_stats_val). It costs one lock-free lookup plus one atomic add and is
// safe for concurrent use. Concurrent Adds are never lost.
func (r *Registry) Add(name string, d int64) int64 { return r.Counter(name).Add(d) }

// Get returns the current value of counter name, or 0 if name has never
// been used (the seed's get_stats_val). It costs one lock-free lookup plus
// one atomic load, is safe for concurrent use, and does not create name.
func (r *Registry) Get(name string) int64 {
	if c, ok := r.counters.Load(name); ok {
		return c.(*Counter).Load()
	}
	return 0
}

// AddAll adds every entry of d to the matching counter (the seed's
// inc_stats_vals). It costs one lookup and one atomic add per entry and is
// safe for concurrent use; d itself is only read.
//
// Each counter is updated atomically, but the batch as a whole is not: a
// concurrent Snapshot may observe some of one AddAll's entries and not
// others. No increment is ever lost, so once all writers have finished the
// values are exact. Taking a lock for the whole batch would reintroduce the
// global lock this package exists to avoid.
func (r *Registry) AddAll(d Delta) {
	for name, n := range d {
		r.Counter(name).Add(n)
	}
}

// SetTotal sets counter name to v and marks it as a total: a first-class
// "how many there will be" value such as "items_total" or "batches_total"
// that progress reporting reads through Totals. The counter is otherwise
// ordinary (Get, Add and Snapshot see it). It costs two lock-free lookups
// and one atomic store and is safe for concurrent use. Marking is permanent.
func (r *Registry) SetTotal(name string, v int64) {
	r.Counter(name).Set(v)
	// Mark after setting so that Totals never reports a total before its
	// value has been stored.
	if _, ok := r.totals.Load(name); !ok {
		r.totals.Store(name, struct{}{})
	}
}

// Totals returns the current values of the counters marked by SetTotal,
// and only those. It costs O(t) for t totals, allocates a fresh map and is
// safe for concurrent use.
func (r *Registry) Totals() map[string]int64 {
	out := make(map[string]int64)
	r.totals.Range(func(k, _ any) bool {
		name := k.(string)
		out[name] = r.Get(name)
		return true
	})
	return out
}

// Snapshot returns a copy of every counter's current value, leaving out
// the names listed in ignore (the seed's get_stats(ignore_keys)). It costs
// O(n) for n counters (plus O(n*len(ignore)) for the filter, which is tiny in
// practice) and allocates a fresh map. It is safe for concurrent use, but it
// is not an atomic cut across counters: values written during the call may
// or may not be included. Totals are included like any other counter.
func (r *Registry) Snapshot(ignore ...string) Snapshot {
	out := make(Snapshot)
	r.counters.Range(func(k, v any) bool {
		name := k.(string)
		if !slices.Contains(ignore, name) {
			out[name] = v.(*Counter).Load()
		}
		return true
	})
	return out
}

// Len returns the number of counters. It costs one atomic load and is safe
// for concurrent use; a name is counted once its Counter exists.
func (r *Registry) Len() int { return int(r.n.Load()) }

// All yields every counter's name and current value, in no particular
// order, without copying them into a map as Snapshot does: each step costs
// one atomic load. It is safe for concurrent use; a counter made during the
// walk may or may not be yielded.
func (r *Registry) All() iter.Seq2[string, int64] {
	return func(yield func(string, int64) bool) {
		r.counters.Range(func(k, v any) bool {
			return yield(k.(string), v.(*Counter).Load())
		})
	}
}

// Elapsed returns the time since New (the seed's time_spent). It costs one
// clock read and is safe for concurrent use. It uses the monotonic clock, so
// wall-clock adjustments do not distort it.
func (r *Registry) Elapsed() time.Duration { return time.Since(r.start) }
