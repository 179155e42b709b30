package stats

// Delta is a batch of increments keyed by counter name, applied in one call
// by Registry.AddAll (the seed's inc_stats_vals). Building a Delta locally and
// flushing it once per batch lets a stage count many things without touching
// shared state per item.
//
// A Delta is a plain map: create it with make or a literal before calling
// Add or Merge (writing to a nil map panics), and do not use one Delta from
// several goroutines without your own synchronisation.
type Delta map[string]int64

// Add adds n to the entry for name (d[name] += n). It costs one map update
// and is not safe for concurrent use. d must be non-nil.
func (d Delta) Add(name string, n int64) { d[name] += n }

// Merge adds every entry of other into d. It costs one map update per entry
// of other and is not safe for concurrent use with writers of d or other.
// d must be non-nil unless other is empty; other may be nil.
func (d Delta) Merge(other Delta) {
	for name, n := range other {
		d[name] += n
	}
}
