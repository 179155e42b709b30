package chaos_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/stage"
)

// spec is one random pipeline and the faults injected into it. Everything a
// run does is decided here, from the run's seed, before anything runs; the
// per-item faults are then a pure function of the seed, the stage and the
// item (see faultOf), so a replay injects the same faults at the same items.
type spec struct {
	seed   int64
	src    sourceSpec
	stages []*stageSpec // in chain order
	sink   sinkSpec
	policy policySpec // pipeline.OnError
	budget budgetSpec // pipeline.FailureBudget
	faults faultMix
	run    runFaults
	// logLevel is the level of the zap logger given with WithLogger; -2:
	// none (the default no-op logger). At debug level ParMap logs every
	// item with its label, and policies log what they skip.
	logLevel int8
}

type stageKind uint8

const (
	kMap     stageKind = iota // pipeline.Map
	kParMap                   // pipeline.ParMap
	kFilter                   // pipeline.Filter
	kFlatMap                  // pipeline.FlatMap
	kTap                      // pipeline.Tap
	kBatch                    // pipeline.Batch, then consumer: a Map or ParMap of batches
	kChain                    // Via(stage.Chain(sub[0], sub[1]))
)

var kindNames = [...]string{"map", "parmap", "filter", "flatmap", "tap", "batch", "chain"}

// stageSpec is one stage of the chain. idx is unique in the run (the source
// is 0, the sink is the last) and keys the stage's faults and transforms.
type stageSpec struct {
	kind stageKind
	idx  int
	name string

	// Map and ParMap, and the consumer of a batch.
	workers   int
	ordered   bool
	buffer    int // 0: the default, stage.DefaultBuffer
	window    int // 0: the default, stage.DefaultWindow
	perWorker bool
	initFail  int   // the ParMap worker whose PerWorker init fails; 0: none
	mul, add  int64 // the transform of each value: v*mul + add

	dropPct int // Filter: the share of items left out
	maxKids int // FlatMap: 0 to maxKids children per item

	// Batch.
	size     int
	maxWait  time.Duration // 0: a size-only Batch
	consumer *stageSpec    // the Map or ParMap that takes the batches

	sub []*stageSpec // Chain: the two stages joined

	label     bool        // stage.Label is given
	policy    *policySpec // stage.OnError, when not nil
	faultRate int         // faulty calls per 10,000
}

// concurrent reports whether the stage runs in goroutines of its own behind
// a buffer: a ParMap, or a Map whose PerWorker handler makes it an ordered
// ParMap of one worker.
func (s *stageSpec) concurrent() bool {
	return s.kind == kParMap || (s.kind == kMap && s.perWorker)
}

// effWorkers and effOrdered are what the library runs: pipeline.Map with a
// PerWorker handler is an ordered ParMap with one worker.
func (s *stageSpec) effWorkers() int {
	if s.kind == kMap {
		return 1
	}
	return s.workers
}

func (s *stageSpec) effOrdered() bool { return s.kind == kMap || s.ordered }

func (s *stageSpec) effBuffer() int {
	if s.buffer == 0 {
		return stage.DefaultBuffer
	}
	return s.buffer
}

func (s *stageSpec) effWindow() int {
	if s.window == 0 {
		return stage.DefaultWindow(s.effWorkers(), s.effBuffer())
	}
	return s.window
}

// effChunk is the most items a chunk of the stage's transport holds: 64
// (the library's maxChunk), at most the buffer and, when ordered, a share
// of the window.
func (s *stageSpec) effChunk() int {
	c := min(64, s.effBuffer())
	if s.effOrdered() {
		c = max(1, min(c, s.effWindow()/(s.effWorkers()+2)))
	}
	return c
}

type sourceKind uint8

const (
	srcSlice sourceKind = iota // source.Slice
	srcFunc                    // source.Func, a generator
	srcSeq2                    // source.Seq2
	srcChan                    // source.Chan, fed by a goroutine of the test
	srcSeq                     // source.Seq
)

var sourceNames = [...]string{"slice", "generator", "iter.Seq2", "channel", "iter.Seq"}

type sourceSpec struct {
	kind    sourceKind
	n       int // items
	errAt   int // the source fails instead of emitting item errAt; -1: never
	panicAt int // the generator panics at item panicAt; -1: never
	chanCap int // srcChan: the channel's capacity
}

type sinkKind uint8

const (
	snkFunc    sinkKind = iota // sink.Func
	snkCollect                 // sink.Collect
	snkChan                    // sink.Chan, read by a goroutine of the test
)

var sinkNames = [...]string{"func", "collect", "chan"}

type sinkSpec struct {
	kind      sinkKind
	idx       int
	name      string
	chanCap   int
	faultRate int           // snkFunc: faulty calls per 10,000
	blockRate int           // calls per 10,000 that block for a while
	blockFor  time.Duration // how long a blocking call blocks, at most
}

// faultMix says what a faulty call does and which calls are slow.
type faultMix struct {
	permanentPct int           // of faulty calls: a stage.Permanent error
	panicPct     int           // of faulty calls: a panic
	slowRate     int           // calls per 10,000 that sleep
	slowMax      time.Duration // the longest sleep
	slowCtxPct   int           // of slow calls: the sleep ends when ctx is done
}

type policyMode uint8

const (
	pFailFast policyMode = iota
	pSkip
	pRetry
	pDeadLetter
)

var modeNames = [...]string{"fail fast", "skip", "retry", "dead letter"}

type policySpec struct {
	mode      policyMode
	attempts  int
	base, max time.Duration
	then      policyMode // Retry's fallback; never pRetry
	thenSet   bool       // Then is called (also for an explicit FailFast)
}

// terminal says whether a failed call at attempt (from 1) is the item's
// last, and if so the policy that settles it.
func (p policySpec) terminal(attempt int, permanent bool) (final bool, mode policyMode) {
	if p.mode != pRetry {
		return true, p.mode
	}
	if permanent || attempt >= p.attempts {
		return true, p.then
	}
	return false, pRetry
}

func (p policySpec) String() string {
	if p.mode != pRetry {
		return modeNames[p.mode]
	}
	s := fmt.Sprintf("retry(%d, %v..%v)", p.attempts, p.base, p.max)
	if p.thenSet {
		s += " then " + modeNames[p.then]
	}
	return s
}

// trigger is when a run-level fault fires: on the ticks-th call into the
// test's code (a tick: a yield, a handler, predicate or sink call), or after
// a delay. The zero trigger never fires.
type trigger struct {
	ticks int64
	after time.Duration
}

func (t trigger) on() bool { return t.ticks > 0 || t.after > 0 }

func (t trigger) String() string {
	if t.ticks > 0 {
		return fmt.Sprintf("at tick %d", t.ticks)
	}
	return fmt.Sprintf("after %v", t.after)
}

// budgetSpec is the run's failure budget: the default, none, or
// MaxFailures(max), whose stops the suite predicts (see tracker.fail).
type budgetSpec struct {
	kind budgetKind
	max  int
}

type budgetKind uint8

const (
	bDefault budgetKind = iota
	bOff
	bMax
)

// allows is the most source items that may fail before the budget may
// stop the run, or -1 for none.
func (b budgetSpec) allows() int {
	switch b.kind {
	case bMax:
		return b.max
	case bDefault:
		return 99
	}
	return -1
}

func (b budgetSpec) String() string {
	switch b.kind {
	case bOff:
		return "none"
	case bMax:
		return fmt.Sprintf("MaxFailures(%d)", b.max)
	}
	return "the default"
}

type runFaults struct {
	cancel     trigger // cancel the run's context
	drain      trigger // a first signal: drain
	hard       trigger // a second signal, counted from the drain: stop hard
	hardSig    string  // "SIGINT" or "SIGTERM"
	dlFailRate int     // dead-letter calls per 10,000 that fail
}

// gen draws a spec.
type gen struct {
	faultkit.Rand
	idx int
}

// generate draws the pipeline and faults of the run with this seed.
func generate(seed int64) *spec {
	g := &gen{Rand: faultkit.NewRand(seed)}
	s := &spec{seed: seed}

	// Fault-free runs check exact outputs and memory bounds; faulty ones
	// check accounting and exit codes. Some faulty runs have only item
	// faults, so that accounting is checked without a stop too.
	clean := g.Chance(30)
	rate := 0
	if !clean {
		rate = []int{20, 100, 300, 1000}[g.IntN(4)]
	}

	s.src = g.source(clean)
	s.faults = faultMix{permanentPct: g.Between(0, 40), panicPct: g.Between(0, 40), slowCtxPct: g.Between(0, 100)}
	if g.Chance(50) {
		s.faults.slowRate = []int{50, 300, 1000, 2000}[g.IntN(4)]
		s.faults.slowMax = g.Dur(20*time.Microsecond, time.Millisecond)
	}
	s.policy = g.policy()

	g.idx = 1
	nStages := []int{0, 1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7}[g.IntN(12)]
	batches, flats := 0, 0
	for range nStages {
		k := stageKind(g.Pick(18, 28, 12, 12, 10, 14, 6))
		switch {
		case k == kBatch && batches == 2, k == kFlatMap && flats == 2:
			k = kMap
		}
		batches += b2i(k == kBatch)
		flats += b2i(k == kFlatMap)
		s.stages = append(s.stages, g.stage(k, rate, true))
	}

	s.sink = g.sink(rate)
	s.logLevel = -2
	if g.Chance(25) {
		s.logLevel = int8(g.Between(-1, 1)) // debug, info or warn
	}
	if !clean {
		s.run = g.runFaults(s)
		switch g.Pick(60, 10, 30) {
		case 1:
			s.budget.kind = bOff
		case 2:
			s.budget = budgetSpec{kind: bMax, max: []int{0, 1, 2, 5, 10, 30}[g.IntN(6)]}
		}
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (g *gen) source(clean bool) sourceSpec {
	src := sourceSpec{kind: sourceKind(g.Pick(25, 30, 15, 20, 10)), errAt: -1, panicAt: -1}
	switch g.Pick(4, 16, 30, 50) {
	case 0:
		src.n = 0
	case 1:
		src.n = g.Between(1, 8)
	case 2:
		src.n = g.Between(9, 60)
	default:
		src.n = g.Between(61, 300)
	}
	if src.kind == srcChan {
		src.chanCap = []int{0, 0, 1, 4, 16}[g.IntN(5)]
	}
	if !clean && src.n > 0 {
		if (src.kind == srcFunc || src.kind == srcSeq2) && g.Chance(12) {
			src.errAt = g.IntN(src.n)
		}
		if src.kind == srcFunc && g.Chance(5) {
			src.panicAt = g.IntN(src.n)
		}
	}
	return src
}

func (g *gen) policy() policySpec {
	p := policySpec{mode: policyMode(g.Pick(30, 20, 30, 20))}
	if p.mode == pRetry {
		p.attempts = g.Between(1, 4)
		p.base = []time.Duration{0, 10 * time.Microsecond, 100 * time.Microsecond}[g.IntN(3)]
		p.max = p.base + g.Dur(0, 500*time.Microsecond)
		p.then = []policyMode{pFailFast, pSkip, pDeadLetter}[g.Pick(40, 30, 30)]
		p.thenSet = p.then != pFailFast || g.Chance(50)
	}
	return p
}

// stage draws a stage of kind k; top is false for the stages inside a Chain
// and for the consumer of a batch.
func (g *gen) stage(k stageKind, rate int, top bool) *stageSpec {
	st := &stageSpec{kind: k, idx: g.idx, mul: int64(g.Between(1, 9)), add: int64(g.Between(-50, 50))}
	g.idx++
	st.name = fmt.Sprintf("s%d-%s", st.idx, kindNames[k])
	if g.Chance(60) {
		st.faultRate = rate
	}
	st.label = g.Chance(50)
	if g.Chance(15) {
		p := g.policy()
		st.policy = &p
	}
	switch k {
	case kMap:
		st.perWorker = g.Chance(20)
		if st.perWorker {
			st.buffer = g.buffer()
		}
	case kParMap:
		st.workers = []int{1, 2, 3, 4, 8, 16}[g.IntN(6)]
		if g.Chance(30) {
			st.workers = g.Between(1, 16)
		}
		st.ordered = g.Chance(50)
		st.buffer = g.buffer()
		if st.ordered && g.Chance(30) {
			st.window = g.Between(1, 20)
		}
		st.perWorker = g.Chance(25)
		if st.perWorker && rate > 0 && g.Chance(4) {
			st.initFail = g.Between(1, st.workers)
		}
	case kFilter:
		st.dropPct = g.Between(0, 60)
	case kFlatMap:
		st.maxKids = g.Between(0, 3)
	case kBatch:
		st.faultRate, st.policy, st.label = 0, nil, false // the batch's handler has them
		st.size = g.Between(1, 5)
		if g.Chance(40) {
			st.maxWait = g.Dur(20*time.Microsecond, 2*time.Millisecond)
			st.buffer = g.buffer()
		}
		// A Batch is followed by the handler of its batches, as in the
		// seed; it is this handler that may fail, skip or dead-letter a
		// batch.
		st.consumer = g.stage([]stageKind{kMap, kParMap}[g.IntN(2)], rate, false)
		st.consumer.name = fmt.Sprintf("s%d-%s-of-batches", st.consumer.idx, kindNames[st.consumer.kind])
	case kChain:
		for range 2 {
			sk := []stageKind{kMap, kParMap, kFilter, kFlatMap, kTap}[g.Pick(30, 20, 20, 15, 15)]
			sub := g.stage(sk, rate, false)
			sub.perWorker = false // stage.Map in a Chain takes a func
			if sub.kind == kMap {
				sub.buffer = 0 // and has no buffer: stage.Buffer on it is invalid
			}
			sub.initFail = 0
			st.sub = append(st.sub, sub)
		}
		st.faultRate, st.policy, st.label = 0, nil, false
	}
	return st
}

func (g *gen) buffer() int {
	switch g.Pick(15, 45, 30, 10) {
	case 0:
		return 0 // the default
	case 1:
		return g.Between(1, 4)
	case 2:
		return g.Between(5, 16)
	default:
		return g.Between(17, 64)
	}
}

func (g *gen) sink(rate int) sinkSpec {
	k := sinkKind(g.Pick(55, 20, 25))
	sk := sinkSpec{kind: k, idx: g.idx, name: "snk-" + sinkNames[k]}
	g.idx++
	if k == snkChan {
		sk.chanCap = []int{0, 1, 8}[g.IntN(3)]
	}
	if k == snkFunc && g.Chance(50) {
		sk.faultRate = rate
	}
	if k != snkCollect && g.Chance(30) {
		sk.blockRate = []int{10, 100, 500}[g.IntN(3)]
		sk.blockFor = g.Dur(100*time.Microsecond, 3*time.Millisecond)
	}
	return sk
}

func (g *gen) runFaults(s *spec) runFaults {
	var rf runFaults
	// About how many ticks a run makes, to place count triggers in it.
	ticks := int64(s.src.n*(len(s.stages)+2) + 1)
	draw := func() trigger {
		if g.Chance(60) {
			return trigger{ticks: 1 + g.Int64N(ticks)}
		}
		return trigger{after: g.Dur(time.Microsecond, 4*time.Millisecond)}
	}
	if g.Chance(18) {
		rf.cancel = draw()
	}
	if g.Chance(25) {
		rf.drain = draw()
		if g.Chance(50) {
			if g.Chance(60) {
				rf.hard = trigger{ticks: 1 + g.Int64N(min(ticks/4, 20)+1)}
			} else {
				rf.hard = trigger{after: g.Dur(time.Microsecond, 2*time.Millisecond)}
			}
			rf.hardSig = []string{"SIGINT", "SIGTERM"}[g.IntN(2)]
		}
	}
	if g.Chance(10) {
		rf.dlFailRate = 1000
	}
	return rf
}

// items walks the item-level stages in order, Chain members and batch
// consumers included, calling f with the stage and the product of the
// batch sizes before it (how many source items a node there may stand for).
func (s *spec) walk(f func(st *stageSpec, per int)) int {
	per := 1
	var visit func(st *stageSpec)
	visit = func(st *stageSpec) {
		switch st.kind {
		case kChain:
			for _, sub := range st.sub {
				visit(sub)
			}
		case kBatch:
			f(st, per)
			per *= st.size
			visit(st.consumer)
		default:
			f(st, per)
		}
	}
	for _, st := range s.stages {
		visit(st)
	}
	return per
}

// memBound is the most source items that may be taken from the source and
// not yet settled at any moment of a run that is not stopping. Each place
// that can hold items counts its slots, times the source items a node
// there may stand for (per: the product of the batch sizes before it; a
// FlatMap child stands for its parent's items, so children only make the
// bound looser):
//
//	the source's hand, and the take the test notes before each yield  2
//	a slice source: the run of items it hands on at once (64, the
//	  library's sliceRun), which the fused stages after it work through 64
//	a channel source: its channel, and the item offered to it          chanCap + 1
//	unordered ParMap: intake buffer and result buffer (whole chunks
//	  of about buffer items each), the chunk the intake fills, one
//	  chunk per worker, the emitter's chunk                            (2*buffer + (workers+2)*chunk) * per
//	ordered ParMap, and Map with PerWorker (an ordered ParMap of 1):
//	  the reorder window (intake to the emitter's hand), and the
//	  chunk the intake fills before it enters the window               (window + chunk) * per
//	Batch with MaxWait: its buffer, and the batch it fills or flushes  (buffer + size) * per
//	Batch by size: the batch it fills                                  size * per
//	Map, Filter, FlatMap, Tap: nothing of their own: they run in the
//	  goroutine before them, and what they hold is in its hand         0
//	a channel sink: its channel, and the reader's hand                 (chanCap + 1) * per
//	slack for the moments the test notes a settle after the library   2
func (s *spec) memBound() int {
	b := 2 + 2
	switch s.src.kind {
	case srcChan:
		b += s.src.chanCap + 1
	case srcSlice:
		b += 64
	}
	per := s.walk(func(st *stageSpec, per int) {
		switch {
		case st.kind == kBatch && st.maxWait > 0:
			b += (st.effBuffer() + st.size) * per
		case st.kind == kBatch:
			b += st.size * per
		case st.concurrent() && st.effOrdered():
			b += (st.effWindow() + st.effChunk()) * per
		case st.concurrent():
			b += (2*st.effBuffer() + (st.effWorkers()+2)*st.effChunk()) * per
		}
	})
	if s.sink.kind == snkChan {
		b += (s.sink.chanCap + 1) * per
	}
	return b
}

// outputCheck is how exactly the sink's items can be predicted.
type outputCheck uint8

const (
	outUnchecked outputCheck = iota // a decision depends on an unpredictable batch
	outAtoms                        // the multiset of the values the items carry
	outItems                        // the multiset of items
	outSequence                     // the exact sequence of items
)

var outputNames = [...]string{"not checked", "multiset of values", "multiset of items", "exact sequence"}

// outputCheck says what the sequential model predicts. An unordered
// ParMap makes the order unpredictable; a Batch after one, or with
// MaxWait, makes the batches unpredictable; and a decision made per node
// (a Filter, a FlatMap, a fault keyed by the node) after that makes even
// the values unpredictable.
func (s *spec) outputCheck() outputCheck {
	ordered, batchesKnown, valuesKnown := true, true, true
	s.walk(func(st *stageSpec, _ int) {
		if !batchesKnown && (st.kind == kFilter || st.kind == kFlatMap || st.faultRate > 0) {
			valuesKnown = false
		}
		switch {
		case st.kind == kBatch && (!ordered || st.maxWait > 0):
			batchesKnown = false
		case st.concurrent() && !st.effOrdered():
			ordered = false
		}
	})
	if !batchesKnown && s.sink.faultRate > 0 {
		valuesKnown = false
	}
	switch {
	case !valuesKnown:
		return outUnchecked
	case !batchesKnown:
		return outAtoms
	case !ordered:
		return outItems
	default:
		return outSequence
	}
}

// describe is the readable account of the run printed with a failure.
func (s *spec) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline of seed %d:\n", s.seed)
	src := s.src
	fmt.Fprintf(&b, "  source %q: %s of %d items", "src", sourceNames[src.kind], src.n)
	if src.kind == srcChan {
		fmt.Fprintf(&b, " (channel capacity %d)", src.chanCap)
	}
	if src.errAt >= 0 {
		fmt.Fprintf(&b, ", fails at item %d", src.errAt)
	}
	if src.panicAt >= 0 {
		fmt.Fprintf(&b, ", panics at item %d", src.panicAt)
	}
	fmt.Fprintf(&b, "\n  policy: %v; failure budget: %v", s.policy, s.budget)
	if s.logLevel > -2 {
		fmt.Fprintf(&b, "; logger at level %d", s.logLevel)
	}
	b.WriteString("\n")
	f := s.faults
	fmt.Fprintf(&b, "  faulty calls: %d%% permanent, %d%% panics, the rest transient (fail the first 1-3 attempts)\n",
		f.permanentPct, f.panicPct)
	if f.slowRate > 0 {
		fmt.Fprintf(&b, "  slow calls: %.1f%%, up to %v, %d%% of them watch ctx\n", float64(f.slowRate)/100, f.slowMax, f.slowCtxPct)
	}
	var line func(st *stageSpec, indent string)
	line = func(st *stageSpec, indent string) {
		fmt.Fprintf(&b, "%s%-26s", indent, st.name)
		switch st.kind {
		case kMap:
			if st.perWorker {
				fmt.Fprintf(&b, " PerWorker buffer=%d", st.buffer)
			}
		case kParMap:
			fmt.Fprintf(&b, " workers=%d ordered=%v buffer=%d", st.workers, st.ordered, st.buffer)
			if st.window > 0 {
				fmt.Fprintf(&b, " window=%d", st.window)
			}
			if st.perWorker {
				fmt.Fprintf(&b, " PerWorker")
			}
			if st.initFail > 0 {
				fmt.Fprintf(&b, " (init of worker %d fails)", st.initFail)
			}
		case kFilter:
			fmt.Fprintf(&b, " drops %d%%", st.dropPct)
		case kFlatMap:
			fmt.Fprintf(&b, " 0-%d children", st.maxKids)
		case kBatch:
			fmt.Fprintf(&b, " size=%d", st.size)
			if st.maxWait > 0 {
				fmt.Fprintf(&b, " maxwait=%v buffer=%d", st.maxWait, st.buffer)
			}
		}
		if st.kind != kFilter && st.kind != kFlatMap && st.kind != kTap && st.kind != kBatch && st.kind != kChain {
			fmt.Fprintf(&b, " v*%d%+d", st.mul, st.add)
		}
		if st.label {
			b.WriteString(" label")
		}
		if st.policy != nil {
			fmt.Fprintf(&b, " policy=%v", *st.policy)
		}
		if st.faultRate > 0 {
			fmt.Fprintf(&b, " faults=%.1f%%", float64(st.faultRate)/100)
		}
		b.WriteString("\n")
		if st.consumer != nil {
			line(st.consumer, indent+"  then ")
		}
		for _, sub := range st.sub {
			line(sub, indent+"  ")
		}
	}
	for _, st := range s.stages {
		line(st, "    ")
	}
	sk := s.sink
	fmt.Fprintf(&b, "  sink %q: %s", sk.name, sinkNames[sk.kind])
	if sk.kind == snkChan {
		fmt.Fprintf(&b, " (capacity %d)", sk.chanCap)
	}
	if sk.faultRate > 0 {
		fmt.Fprintf(&b, " faults=%.1f%%", float64(sk.faultRate)/100)
	}
	if sk.blockRate > 0 {
		fmt.Fprintf(&b, " blocks %.1f%% of calls for up to %v", float64(sk.blockRate)/100, sk.blockFor)
	}
	b.WriteString("\n")
	r := s.run
	var ev []string
	if r.cancel.on() {
		ev = append(ev, "cancel ctx "+r.cancel.String())
	}
	if r.drain.on() {
		ev = append(ev, "drain (SIGINT) "+r.drain.String())
	}
	if r.hard.on() {
		ev = append(ev, fmt.Sprintf("hard stop (%s) %s after the drain", r.hardSig, r.hard))
	}
	if r.dlFailRate > 0 {
		ev = append(ev, fmt.Sprintf("dead-letter function fails %.1f%% of calls", float64(r.dlFailRate)/100))
	}
	if len(ev) == 0 {
		ev = append(ev, "none")
	}
	fmt.Fprintf(&b, "  run faults: %s\n", strings.Join(ev, "; "))
	fmt.Fprintf(&b, "  memory bound: %d source items; output check: %s\n", s.memBound(), outputNames[s.outputCheck()])
	return b.String()
}
