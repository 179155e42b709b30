package stats

import (
	"slices"
	"strconv"
	"strings"
)

// Snapshot is a copy of a Registry's counter values, returned by
// Registry.Snapshot (each value is read atomically, but the set as a whole is
// not one instant; see Registry.Snapshot). It is an ordinary map owned by the caller: mutating it
// does not affect the Registry, and it is not safe for concurrent mutation. encoding/json already emits map keys in sorted order,
// so a Snapshot marshals deterministically without a custom MarshalJSON.
type Snapshot map[string]int64

// Keys returns the snapshot's names in ascending order. It costs
// O(n log n) for n entries and allocates a new slice; it is safe for
// concurrent use as long as nobody mutates s.
func (s Snapshot) Keys() []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// String formats the snapshot as "name=value" pairs sorted by name and
// joined by ", ", e.g. "items=3, skipped=1". Sorting makes the output stable
// for logs and tests. It costs O(n log n) and is safe for concurrent use as
// long as nobody mutates s.
func (s Snapshot) String() string {
	var b strings.Builder
	for i, k := range s.Keys() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(s[k], 10))
	}
	return b.String()
}
