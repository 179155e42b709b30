package connchaos_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/internal/testdb"
)

// spec is one random run: the connectors at both ends, the stages between,
// the error policy, and the faults. Everything is decided here, from the
// run's seed, before anything runs; per-item faults are then a pure
// function of the seed, the position and the item's id (see faultOf), so a
// replay injects the same faults at the same items.
type spec struct {
	seed   int64
	src    sourceSpec
	stages []*stageSpec // in chain order
	sink   sinkSpec
	policy policySpec // pipeline.OnError
	faults faultMix
	run    runFaults
}

type sourceKind uint8

const (
	srcJetStream sourceKind = iota // source/jetstream on the shared server
	srcSQL                         // sqlsrc.Query
	srcFile                        // textsrc.LinesFile of a regular file
	srcPipe                        // textsrc.Lines of an os.Pipe (or of a plain io.Reader over one)
	srcFIFO                        // textsrc.LinesFile of a FIFO
)

var sourceNames = [...]string{"jetstream", "sql", "file", "pipe", "fifo"}

// sourceSpec is the source and its input: n items with the ids 0..n-1.
type sourceSpec struct {
	kind sourceKind
	n    int
	idx  int // the position of its decoder (0)

	// decodeRate is the faulty decodes per 10,000: a decoder error or
	// panic (jetstream), or a line that is not JSON (text).
	decodeRate int

	// JetStream: the source's options and the consumer's configuration.
	fetch         int
	maxWait       time.Duration
	untilEmpty    bool // false: a worker that runs until it is stopped
	ackWait       time.Duration
	maxDeliver    int // -1: unlimited
	maxAckPending int // 0: the server's default

	// SQL.
	db        string // "sqlite" or "postgres" (falls back to sqlite without CONVEYOR_TEST_POSTGRES)
	scanErrAt int    // the scan of this row (from 0) fails, which fails the run; -1: never

	// Pipes and FIFOs: the writer writes the n lines, then closes its end
	// (EOF) unless idle, when it keeps it open and writes nothing more, so
	// that the source blocks in read; noWriter: nobody ever opens the FIFO
	// for writing, so that the source blocks in open(2).
	idle     bool
	noWriter bool
	plain    bool // pipe: the source reads an io.Reader that hides the *os.File
}

type stageKind uint8

const (
	kMap    stageKind = iota // pipeline.Map: fused into the goroutine before it
	kParMap                  // pipeline.ParMap
	kKeyBy                   // stage.KeyBy on id % keys
	kBatch                   // Batch with MaxWait, then a handler of batches, then Unbatch (unless the sink takes batches)
)

var kindNames = [...]string{"map", "parmap", "keyby", "batch"}

// stageSpec is one stage of the chain; idx keys its faults.
type stageSpec struct {
	kind    stageKind
	idx     int
	name    string
	workers int
	ordered bool
	keys    int           // KeyBy: the number of distinct keys
	size    int           // Batch
	maxWait time.Duration // Batch
	rate    int           // faulty calls per 10,000
	slow    time.Duration // each call sleeps up to this (0: none)
	unbatch bool          // Batch: Unbatch after the handler of batches
}

type sinkKind uint8

const (
	snkFunc      sinkKind = iota // sink.Func, into the test's map
	snkJetStream                 // sink/jetstream into a stream of the run's own
	snkSQL                       // sqlsink.Insert, after a Batch
	snkFile                      // textsink.JSONLFile
	snkWriter                    // textsink.JSONL to a buffer
)

var sinkNames = [...]string{"func", "jetstream", "sql", "file", "writer"}

type sinkSpec struct {
	kind sinkKind
	idx  int
	// rate is the faulty calls per 10,000: the function fails or panics
	// (func), the item's subject has no stream (jetstream), its row breaks
	// a CHECK constraint (sql). Text sinks have none.
	rate   int
	msgID  bool // jetstream: Nats-Msg-Id, so the output stream dedups
	upsert bool // sql: a table keyed on the id, and sqlsink.Upsert on it
	old    bool // file: a file is at the path before the run, which a run that does not finish must leave as it was
	db     string
	// sql: the Batch before the sink, when the chain does not end in one.
	size    int
	maxWait time.Duration
}

// faultMix says what a faulty call does.
type faultMix struct {
	permanentPct int // of faulty calls: every call fails, with stage.Permanent where the position allows it
	panicPct     int // of faulty calls: a panic on the first k calls
	// the rest: a transient error on the first k calls (k from 1 to 3)
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
}

// canSkip says whether a failed item may end skipped.
func (p policySpec) canSkip() bool { return p.mode == pSkip || (p.mode == pRetry && p.then == pSkip) }

// calls is the most calls the policy makes for one item at one position.
func (p policySpec) calls() int {
	if p.mode == pRetry {
		return p.attempts
	}
	return 1
}

func (p policySpec) String() string {
	if p.mode != pRetry {
		return modeNames[p.mode]
	}
	return fmt.Sprintf("retry(%d, %v..%v) then %s", p.attempts, p.base, p.max, modeNames[p.then])
}

// trigger is when a run-level fault fires: once the source side has seen
// seen items (0: at once), and after that a delay. A trigger whose count is
// never reached never fires.
type trigger struct {
	set   bool
	seen  int
	after time.Duration
}

func (t trigger) String() string {
	if t.seen > 0 {
		return fmt.Sprintf("%v after the %dth item", t.after, t.seen)
	}
	return fmt.Sprintf("after %v", t.after)
}

type runFaults struct {
	cancel trigger // cancel the run's context
	drain  trigger // a first signal: drain
	hard   trigger // a second signal, its delay counted from the drain: stop hard
	// outage: the NATS server stops, and starts again outageFor later on
	// its port and store.
	outage    trigger
	outageFor time.Duration
	// maxOutage is the JetStream connectors' MaxOutage; 0: the default,
	// 30s, longer than any outage here.
	maxOutage time.Duration
}

// stops says whether the run has a run-level stop of its own.
func (rf runFaults) stops() bool { return rf.cancel.set || rf.drain.set }

// gen draws a spec.
type gen struct {
	faultkit.Rand
	idx int
}

// pgAvailable says whether PostgreSQL is there to test against. A spec
// draws its database either way, so that a seed draws the same run with
// or without it; without it, "postgres" runs on SQLite.
var pgAvailable = os.Getenv(testdb.PostgresEnv) != ""

// generate draws the run with this seed.
func generate(seed int64) *spec {
	g := &gen{Rand: faultkit.NewRand(seed)}
	s := &spec{seed: seed}

	// A third of the runs have no item faults, so that runs that should
	// succeed are checked to succeed; the others pick a rate.
	rate := 0
	if !g.Chance(30) {
		rate = []int{50, 200, 500, 1500}[g.IntN(4)]
	}
	s.faults = faultMix{permanentPct: g.Between(0, 40), panicPct: g.Between(0, 30)}
	s.policy = g.policy()

	s.src = g.source(rate)
	g.idx = 1
	nStages := []int{0, 1, 1, 2, 2, 3, 4}[g.IntN(7)]
	batches := 0
	for range nStages {
		k := stageKind(g.Pick(30, 30, 20, 20))
		if k == kBatch && batches == 1 {
			k = kMap
		}
		batches += b2i(k == kBatch)
		s.stages = append(s.stages, g.stage(k, rate))
	}
	s.sink = g.sink(s, rate)
	if s.src.kind == srcJetStream && s.sink.kind == snkFile && s.src.maxAckPending > 0 && s.src.maxAckPending < s.src.n {
		// A file sink settles its items only when it renames the file,
		// at the end of its input, as sink.New says: behind a consumer
		// whose MaxAckPending is below the queue's length the run holds
		// all it may and waits for more, forever (documented; not drawn).
		s.src.maxAckPending = 0
	}
	// A Batch that ends the chain hands its batches to an SQL sink as
	// they are; before any other sink its batches are taken apart again.
	for i, st := range s.stages {
		if st.kind == kBatch {
			st.unbatch = i < len(s.stages)-1 || s.sink.kind != snkSQL
		}
	}
	s.run = g.runFaults(s)
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (g *gen) policy() policySpec {
	p := policySpec{mode: policyMode(g.Pick(30, 20, 30, 20))}
	if p.mode == pRetry {
		p.attempts = g.Between(1, 4)
		p.base = []time.Duration{0, 100 * time.Microsecond, time.Millisecond}[g.IntN(3)]
		p.max = p.base + g.Dur(0, 3*time.Millisecond)
		p.then = []policyMode{pFailFast, pSkip, pDeadLetter}[g.Pick(30, 35, 35)]
	}
	return p
}

func (g *gen) source(rate int) sourceSpec {
	src := sourceSpec{kind: sourceKind(g.Pick(40, 20, 14, 16, 10)), scanErrAt: -1}
	switch g.Pick(3, 15, 42, 40) {
	case 0:
		src.n = 0
	case 1:
		src.n = g.Between(1, 8)
	case 2:
		src.n = g.Between(9, 60)
	default:
		src.n = g.Between(61, 200)
	}
	if rate > 0 && src.kind != srcSQL && g.Chance(40) {
		src.decodeRate = rate
	}
	switch src.kind {
	case srcJetStream:
		src.fetch = []int{1, 4, 16, 32, 64}[g.IntN(5)]
		// Most pulls are short, to keep runs fast; some keep the
		// default of 1s, where a hard stop must not wait for the pull.
		src.maxWait = []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, time.Second}[g.Pick(25, 30, 20, 10, 15)]
		src.untilEmpty = g.Chance(75)
		src.ackWait = []time.Duration{time.Second, 2 * time.Second}[g.IntN(2)]
		src.maxDeliver = []int{-1, 2, 3, 5}[g.Pick(55, 15, 15, 15)]
		if g.Chance(30) {
			src.maxAckPending = g.Between(10, 100)
		}
	case srcSQL:
		src.db = []string{"sqlite", "postgres"}[g.IntN(2)]
		if rate > 0 && src.n > 0 && g.Chance(8) {
			src.scanErrAt = g.IntN(src.n)
		}
	case srcPipe, srcFIFO:
		src.idle = g.Chance(50)
		src.noWriter = src.kind == srcFIFO && g.Chance(15)
		src.plain = src.kind == srcPipe && g.Chance(25)
	}
	return src
}

func (g *gen) stage(k stageKind, rate int) *stageSpec {
	st := &stageSpec{kind: k, idx: g.idx}
	g.idx++
	st.name = fmt.Sprintf("s%d-%s", st.idx, kindNames[k])
	if g.Chance(60) {
		st.rate = rate
	}
	if g.Chance(20) {
		st.slow = g.Dur(50*time.Microsecond, time.Millisecond)
	}
	switch k {
	case kParMap:
		st.workers = []int{1, 2, 4, 8}[g.IntN(4)]
		st.ordered = g.Chance(40)
	case kKeyBy:
		st.workers = []int{1, 2, 4}[g.IntN(3)]
		st.keys = g.Between(1, 16)
	case kBatch:
		st.size = g.Between(2, 20)
		st.maxWait = g.Dur(500*time.Microsecond, 10*time.Millisecond)
		st.workers = []int{0, 0, 2}[g.IntN(3)] // 0: a Map of batches, else a ParMap
	}
	return st
}

func (g *gen) sink(s *spec, rate int) sinkSpec {
	sk := sinkSpec{kind: sinkKind(g.Pick(30, 20, 20, 15, 15)), idx: g.idx}
	g.idx++
	switch sk.kind {
	case snkFunc, snkJetStream, snkSQL:
		if rate > 0 && g.Chance(50) {
			sk.rate = rate
		}
	}
	sk.msgID = sk.kind == snkJetStream && g.Chance(70)
	sk.upsert = sk.kind == snkSQL && g.Chance(50)
	sk.old = sk.kind == snkFile && g.Chance(30)
	sk.db = []string{"sqlite", "postgres"}[g.IntN(2)]
	sk.size = g.Between(1, 25)
	sk.maxWait = g.Dur(500*time.Microsecond, 10*time.Millisecond)
	return sk
}

// merges says whether a Batch is taken apart again before the sink: the
// source items of such a batch share one outcome, the worst of its items'
// (Counts), so that counts no longer match the items one by one.
func (s *spec) merges() bool {
	for _, st := range s.stages {
		if st.kind == kBatch && st.unbatch {
			return true
		}
	}
	return false
}

// jetstream says whether the run uses the NATS server, at either end.
func (s *spec) jetstream() bool { return s.src.kind == srcJetStream || s.sink.kind == snkJetStream }

// endless says whether the source never ends by itself: a worker's
// queue, a pipe or FIFO whose writer stays idle, a FIFO nobody opens.
func (s *spec) endless() bool {
	src := s.src
	return (src.kind == srcJetStream && !src.untilEmpty) || src.idle || src.noWriter
}

func (g *gen) runFaults(s *spec) runFaults {
	var rf runFaults
	n := s.src.n
	draw := func() trigger {
		if n > 0 && g.Chance(60) {
			return trigger{set: true, seen: g.Between(1, n), after: g.Dur(0, 5*time.Millisecond)}
		}
		return trigger{set: true, after: g.Dur(time.Millisecond, 60*time.Millisecond)}
	}
	if g.Chance(12) {
		rf.cancel = draw()
	}
	if g.Chance(20) {
		rf.drain = draw()
		if g.Chance(50) {
			rf.hard = trigger{set: true, after: g.Dur(0, 30*time.Millisecond)}
		}
	}
	if s.jetstream() && g.Chance(25) {
		rf.outage = draw()
		switch g.Pick(80, 15, 5) {
		case 0:
			rf.outageFor = g.Dur(100*time.Millisecond, 500*time.Millisecond)
		case 1:
			rf.outageFor = g.Dur(500*time.Millisecond, 2*time.Second)
		default:
			rf.outageFor = g.Dur(2*time.Second, 5*time.Second)
		}
		if g.Chance(30) {
			rf.maxOutage = g.Dur(200*time.Millisecond, 3*time.Second)
		}
	}
	if s.src.noWriter {
		// Nothing is ever seen: every trigger fires after its delay.
		for _, t := range []*trigger{&rf.cancel, &rf.drain, &rf.outage} {
			if t.seen > 0 {
				t.seen, t.after = 0, g.Dur(time.Millisecond, 60*time.Millisecond)
			}
		}
	}
	// A source that never ends needs a stop; it comes once the source has
	// seen every item (its reads then block) and a little more, or at
	// once without any.
	if s.endless() && !rf.stops() {
		t := trigger{set: true, seen: n, after: g.Dur(5*time.Millisecond, 50*time.Millisecond)}
		if s.src.noWriter {
			t.seen = 0
		}
		switch g.Pick(50, 25, 25) {
		case 0:
			rf.drain = t
		case 1:
			rf.drain = t
			rf.hard = trigger{set: true, after: g.Dur(0, 30*time.Millisecond)}
		default:
			rf.cancel = t
		}
	}
	return rf
}

// describe is the readable account of the run printed with a failure.
func (s *spec) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run of seed %d:\n", s.seed)
	src := s.src
	fmt.Fprintf(&b, "  source: %s of %d items", sourceNames[src.kind], src.n)
	switch src.kind {
	case srcJetStream:
		fmt.Fprintf(&b, ", FetchBatch(%d) MaxWait(%v) UntilEmpty=%v; consumer AckWait %v MaxDeliver %d MaxAckPending %d",
			src.fetch, src.maxWait, src.untilEmpty, src.ackWait, src.maxDeliver, src.maxAckPending)
	case srcSQL:
		fmt.Fprintf(&b, " on %s", dbName(src.db))
		if src.scanErrAt >= 0 {
			fmt.Fprintf(&b, ", scan fails at row %d", src.scanErrAt)
		}
	case srcPipe, srcFIFO:
		switch {
		case src.noWriter:
			b.WriteString(", no writer ever opens it")
		case src.idle:
			b.WriteString(", the writer stays open and idle after its lines")
		default:
			b.WriteString(", the writer closes after its lines")
		}
		if src.plain {
			b.WriteString(", read through a plain io.Reader")
		}
	}
	if src.decodeRate > 0 {
		fmt.Fprintf(&b, "; faulty decodes %.1f%%", float64(src.decodeRate)/100)
	}
	fmt.Fprintf(&b, "\n  policy: %v; faulty calls: %d%% permanent, %d%% panics, the rest transient (fail the first 1-3 calls)\n",
		s.policy, s.faults.permanentPct, s.faults.panicPct)
	for _, st := range s.stages {
		fmt.Fprintf(&b, "    %-14s", st.name)
		switch st.kind {
		case kParMap:
			fmt.Fprintf(&b, " workers=%d ordered=%v", st.workers, st.ordered)
		case kKeyBy:
			fmt.Fprintf(&b, " workers=%d keys=%d", st.workers, st.keys)
		case kBatch:
			fmt.Fprintf(&b, " size=%d maxwait=%v, batches handled by ", st.size, st.maxWait)
			if st.workers > 0 {
				fmt.Fprintf(&b, "ParMap(%d)", st.workers)
			} else {
				b.WriteString("Map")
			}
			if st.unbatch {
				b.WriteString(", then Unbatch")
			}
		}
		if st.rate > 0 {
			fmt.Fprintf(&b, " faults=%.1f%%", float64(st.rate)/100)
		}
		if st.slow > 0 {
			fmt.Fprintf(&b, " slow up to %v", st.slow)
		}
		b.WriteString("\n")
	}
	sk := s.sink
	fmt.Fprintf(&b, "  sink: %s", sinkNames[sk.kind])
	switch sk.kind {
	case snkJetStream:
		fmt.Fprintf(&b, " MsgID=%v", sk.msgID)
	case snkFile:
		if sk.old {
			b.WriteString(", an older file at the path")
		}
	case snkSQL:
		fmt.Fprintf(&b, " on %s", dbName(sk.db))
		if sk.upsert {
			b.WriteString(", Upsert on id")
		}
		if n := len(s.stages); n == 0 || s.stages[n-1].kind != kBatch {
			fmt.Fprintf(&b, ", after Batch(%d, MaxWait(%v))", sk.size, sk.maxWait)
		}
	}
	if sk.rate > 0 {
		fmt.Fprintf(&b, " faults=%.1f%%", float64(sk.rate)/100)
	}
	b.WriteString("\n")
	r := s.run
	var ev []string
	if r.cancel.set {
		ev = append(ev, "cancel ctx "+r.cancel.String())
	}
	if r.drain.set {
		ev = append(ev, "drain (SIGINT) "+r.drain.String())
	}
	if r.hard.set {
		ev = append(ev, fmt.Sprintf("hard stop (second SIGINT) %v after the drain", r.hard.after))
	}
	if r.outage.set {
		ev = append(ev, fmt.Sprintf("server outage of %v %s", r.outageFor.Round(time.Millisecond), r.outage))
		if r.maxOutage > 0 {
			ev = append(ev, fmt.Sprintf("MaxOutage(%v)", r.maxOutage.Round(time.Millisecond)))
		}
	}
	if len(ev) == 0 {
		ev = append(ev, "none")
	}
	fmt.Fprintf(&b, "  run faults: %s\n", strings.Join(ev, "; "))
	return b.String()
}

// dbName is the database a run uses: postgres only where it is available.
func dbName(db string) string {
	if db == "postgres" && !pgAvailable {
		return "sqlite (postgres drawn; " + testdb.PostgresEnv + " is not set)"
	}
	return db
}
