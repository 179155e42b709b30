package promstats

import (
	"container/heap"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/stats"
)

// statSet is the counters of a Registry that a Collector exports: at most
// max of them. Which ones is settled at the scrapes (see MaxStats), so a
// scrape costs O(max) however many names the Registry holds, except a
// scrape that finds new names while there is room, which walks them all.
type statSet struct {
	reg *stats.Registry
	max int
	log *zap.Logger

	mu     sync.Mutex
	seen   map[string]struct{} // names settled: exported, or left out for a taken label
	labels map[string]struct{} // the labels of out
	out    []stat              // only ever appended to, under mu
	warned bool                // the line saying stats were dropped is logged
}

// stat is one exported counter.
type stat struct {
	label string
	c     *stats.Counter
}

func newStatSet(reg *stats.Registry, max int, log *zap.Logger) *statSet {
	return &statSet{reg: reg, max: max, log: log, seen: map[string]struct{}{}, labels: map[string]struct{}{}}
}

// read returns the counters to export, and how many of the Registry's are
// not exported. The returned slice is only read: later reads append past
// its length.
func (s *statSet) read() ([]stat, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) < s.max && s.reg.Len() > len(s.seen) {
		s.settle()
	}
	// A name being made may be walked before Len counts it: hence max.
	dropped := max(s.reg.Len()-len(s.out), 0)
	if dropped > 0 && !s.warned {
		s.warned = true
		s.log.Warn("stats past the cap are not exported; conveyor_stats_dropped counts them",
			zap.Int("dropped", dropped), zap.Int("max_stats", s.max))
	}
	return s.out, dropped
}

// settle exports the names not seen yet while there is room: the first
// by name when there are more than room. It walks the Registry once and
// holds at most room names while it does.
func (s *statSet) settle() {
	room := s.max - len(s.seen)
	var h nameHeap // the least room names so far, the greatest on top
	for name := range s.reg.All() {
		if _, ok := s.seen[name]; ok {
			continue
		}
		switch {
		case len(h) < room:
			heap.Push(&h, name)
		case name < h[0]:
			h[0] = name
			heap.Fix(&h, 0)
		}
	}
	slices.Sort(h)
	for _, name := range h {
		s.seen[name] = struct{}{}
		label, escaped := escape(name)
		if _, taken := s.labels[label]; taken {
			s.log.Warn("stat not exported: escaped, its name is another stat's", zap.String("stat", label))
			continue
		}
		if escaped {
			s.log.Warn("stat name is not valid UTF-8: exported escaped", zap.String("stat", label))
		}
		s.labels[label] = struct{}{}
		s.out = append(s.out, stat{label: label, c: s.reg.Counter(name)})
	}
}

// nameHeap is a max-heap of names.
type nameHeap []string

func (h nameHeap) Len() int           { return len(h) }
func (h nameHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h nameHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nameHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *nameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
