package connchaos_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/stage"
)

// runState is one run: the spec, the context and stop channel it runs
// under, the connectors' environment, the run-level faults fired so far,
// and what the test's code saw.
type runState struct {
	s       *spec
	t       *testing.T
	dir     string // the run's own directory: files, FIFOs, SQLite databases
	ctx     context.Context
	cancel  context.CancelFunc
	stop    chan os.Signal // unbuffered: a send returns once Run received it
	runDone chan struct{}  // closed when Run has returned
	start   time.Time      // Run was called
	ended   time.Time      // Run returned

	js   *jsEnv   // when the run uses JetStream
	sql  *sqlEnv  // when the run uses SQL
	text *textEnv // when the run uses text files, pipes or FIFOs

	seen     atomic.Int64 // items the source side saw (decodes, rows, lines)
	progress atomic.Int64 // when the test's code was last called (UnixNano): the watchdog's measure of a stall

	mu             sync.Mutex // guards what follows
	waiters        []waiter
	calls          map[[2]int]int // calls made per (position, input)
	failures       []failure
	failedIDs      map[int]bool // inputs with a failed call
	dead           map[int]int  // inputs handed to the dead-letter function
	deadItems      int64        // the source items the dead letters stood for
	sunk           map[int]int  // snkFunc: the inputs it accepted
	sunkItems      int64
	followed       map[int]int    // the inputs the follow-up's func sink accepted
	decodes        map[int]int    // JetStream: decodes per input in the main run
	delivered      map[int]uint64 // JetStream: the highest NumDelivered seen per input
	events         []event
	samples        []sample // measured times to Run's return
	strandedOK     int      // inputs left in the queue by the policy (see strandedByPolicy)
	strandedOutage int      // inputs left in the queue by an outage's lost deliveries
	violations     []string

	helpers sync.WaitGroup // the test's goroutines: triggers, outage, writers
}

type evKind uint8

const (
	evCancel evKind = iota
	evDrain
	evHard
	evOutage  // the server stopped
	evRestart // the server is back
)

var evNames = [...]string{"cancel", "drain", "hard stop", "outage", "restart"}

type event struct {
	kind evKind
	at   time.Time
}

// waiter is a trigger waiting for the source side to see n items.
type waiter struct {
	n  int64
	ch chan struct{}
}

func newRunState(t *testing.T, s *spec) *runState {
	r := &runState{
		s: s, t: t, dir: t.TempDir(),
		stop:    make(chan os.Signal),
		runDone: make(chan struct{}),
		calls:   map[[2]int]int{}, failedIDs: map[int]bool{}, dead: map[int]int{}, sunk: map[int]int{},
		decodes: map[int]int{}, delivered: map[int]uint64{}, followed: map[int]int{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

func (r *runState) violatef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

func (r *runState) record(k evKind) {
	r.mu.Lock()
	r.events = append(r.events, event{kind: k, at: time.Now()})
	r.mu.Unlock()
}

// firstEvent returns the time of the first event of kind k before Run
// returned, or the zero time.
func (r *runState) firstEvent(k evKind) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.kind == k {
			return e.at
		}
	}
	return time.Time{}
}

// observe notes that the source side saw input id, and fires the
// triggers waiting for that many items.
func (r *runState) observe() {
	r.tick()
	n := r.seen.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.waiters[:0]
	for _, w := range r.waiters {
		if w.n <= n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	r.waiters = kept
}

// tick notes that the run makes progress.
func (r *runState) tick() { r.progress.Store(time.Now().UnixNano()) }

// reached returns a channel closed once the source side has seen n items.
func (r *runState) reached(n int) <-chan struct{} {
	ch := make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if int64(n) <= r.seen.Load() {
		close(ch)
	} else {
		r.waiters = append(r.waiters, waiter{n: int64(n), ch: ch})
	}
	return ch
}

// when calls f once tr fires, unless Run has returned by then.
func (r *runState) when(tr trigger, f func()) {
	if !tr.set {
		return
	}
	at := r.reached(tr.seen)
	r.helpers.Go(func() {
		select {
		case <-at:
		case <-r.runDone:
			return
		}
		if !r.sleep(tr.after) {
			return
		}
		f()
	})
}

// sleep waits d, or until Run returns: it reports whether d passed.
func (r *runState) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.runDone:
		return false
	}
}

// signal sends sig to the run, once Run takes it, unless Run returns
// first; it reports whether Run took it.
func (r *runState) signal(k evKind) bool {
	select {
	case r.stop <- syscall.SIGINT:
		r.record(k)
		return true
	case <-r.runDone:
		return false
	}
}

// startFaults arms the run-level faults.
func (r *runState) startFaults() {
	rf := r.s.run
	r.when(rf.cancel, func() {
		r.record(evCancel)
		r.cancel()
	})
	r.when(rf.drain, func() {
		if r.signal(evDrain) && rf.hard.set && r.sleep(rf.hard.after) {
			r.signal(evHard)
		}
	})
	r.when(rf.outage, r.outage)
}

// inject runs the fault plan of position pos for a call on the inputs
// ids: it counts the call, and fails it (an error, or a panic) if the plan
// says so for any of them.
func (r *runState) inject(pos, rate int, ids []int) error {
	r.tick()
	if rate == 0 {
		return nil
	}
	r.mu.Lock()
	var f fault
	var id, call int
	for _, x := range ids {
		key := [2]int{pos, x}
		r.calls[key]++
		if g := r.s.faultOf(pos, rate, x); g.fails(r.calls[key]) && f.kind == fNone {
			f, id, call = g, x, r.calls[key]
		}
	}
	if f.kind == fNone {
		r.mu.Unlock()
		return nil
	}
	fl := failure{pos: pos, ids: append([]int(nil), ids...), kind: f.kind, at: time.Now(), what: fmt.Sprintf("call %d of input %d", call, id)}
	for _, x := range ids {
		r.failedIDs[x] = true
	}
	var err error
	if f.kind == fPanic {
		fl.panic = fmt.Sprintf("connchaos: injected panic at position %d, input %d, call %d", pos, id, call)
	} else {
		err = &injected{pos: pos, id: id, call: call, at: fl.at}
		if f.kind == fPermanent {
			err = stage.Permanent(err)
		}
		fl.err = err
	}
	r.failures = append(r.failures, fl)
	r.mu.Unlock()
	if fl.panic != "" {
		panic(fl.panic)
	}
	return err
}

// note records a fault that fires where the test has no handler of its
// own to fail (a row that breaks a constraint, a subject without a
// stream, a line that is not JSON, a panic in a callback of a connector):
// the library fails the call after.
func (r *runState) note(f failure) {
	f.at = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range f.ids {
		r.failedIDs[x] = true
	}
	r.failures = append(r.failures, f)
}

// connectorFault runs the fault plan of position pos for a call of a
// connector's callback on input id (a sink's subject or values function):
// it panics for a panic, and otherwise reports whether the call should make
// its item fail, noting the failure, of the inputs of also too.
func (r *runState) connectorFault(pos, rate, id int, what string, also []rec) bool {
	r.tick()
	f := r.s.faultOf(pos, rate, id)
	if f.kind == fNone {
		return false
	}
	call := r.nextCall(pos, id)
	if !f.fails(call) {
		return false
	}
	// The call fails its item, and with it the inputs of also: the rest
	// of an SQL batch.
	fl := failure{pos: pos, ids: []int{id}, kind: f.kind, what: fmt.Sprintf("%s, call %d of input %d", what, call, id)}
	r.mu.Lock()
	for _, v := range also {
		r.failedIDs[v.ID] = true
	}
	r.mu.Unlock()
	if f.kind == fPanic {
		fl.panic = fmt.Sprintf("connchaos: injected panic at position %d, input %d, call %d", pos, id, call)
		r.note(fl)
		panic(fl.panic)
	}
	r.note(fl)
	return true
}

// nextCall counts a call of position pos on input id, and returns its
// number, from 1.
func (r *runState) nextCall(pos, id int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[[2]int{pos, id}]++
	return r.calls[[2]int{pos, id}]
}

// slowFor is how long a call of a slow stage sleeps on input id.
func (r *runState) slowFor(st *stageSpec, id int) time.Duration {
	if st.slow == 0 {
		return 0
	}
	return time.Duration(faultkit.Mix(uint64(r.s.seed), uint64(st.idx)|1<<20, uint64(id)) % uint64(st.slow))
}

// handler is the handler of a Map, ParMap or KeyBy stage.
func (r *runState) handler(st *stageSpec) stage.Proc[rec, rec] {
	return stage.Func(func(ctx context.Context, v rec) (rec, error) {
		if err := r.inject(st.idx, st.rate, []int{v.ID}); err != nil {
			return v, err
		}
		sleepCtx(ctx, r.slowFor(st, v.ID))
		r.tick()
		v.V = v.V*3 + st.idx
		return v, nil
	})
}

// batchHandler is the handler of a Batch's batches: it fails a batch when
// the plan fails any member.
func (r *runState) batchHandler(st *stageSpec) stage.Proc[[]rec, []rec] {
	return stage.Func(func(ctx context.Context, b []rec) ([]rec, error) {
		ids := make([]int, len(b))
		for i, v := range b {
			ids[i] = v.ID
		}
		if err := r.inject(st.idx, st.rate, ids); err != nil {
			return nil, err
		}
		if len(b) > 0 {
			sleepCtx(ctx, r.slowFor(st, b[0].ID))
		}
		out := make([]rec, len(b))
		for i, v := range b {
			out[i] = rec{ID: v.ID, V: v.V*3 + st.idx}
		}
		return out, nil
	})
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// policy is the pipeline's error policy; its dead letters are noted.
func (r *runState) policy() stage.Policy {
	p := r.s.policy
	of := func(m policyMode) stage.Policy {
		switch m {
		case pSkip:
			return stage.Skip()
		case pDeadLetter:
			return stage.DeadLetter(r.deadLetter)
		}
		return stage.FailFast()
	}
	if p.mode != pRetry {
		return of(p.mode)
	}
	return stage.Retry(p.attempts, p.base, p.max).Then(of(p.then))
}

func (r *runState) deadLetter(_ context.Context, d stage.DeadLetterItem) error {
	ids, err := idsOf(d.Item)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.violations = append(r.violations, fmt.Sprintf("dead letter: %v (stage %q, item %q)", err, d.Stage, d.Label))
	}
	for _, id := range ids {
		r.dead[id]++
	}
	r.deadItems += int64(len(ids))
	return nil
}

// build makes the run's pipeline: the source with its decoder, the
// stages, and the sink (after a Batch, for an SQL sink whose chain does
// not end in one).
func (r *runState) build() *pipeline.Pipeline {
	// No failure budget: an SQL batch fails as a whole, so a fault rate of
	// a few percent of the rows can fail every batch of a run, which the
	// default budget would stop; internal/chaos checks the budget.
	p := r.source(pipeline.OnError(r.policy()), pipeline.WithStopChannel(r.stop), pipeline.WithoutFailureBudget())
	for _, st := range r.s.stages {
		switch st.kind {
		case kMap:
			p = p.Map(r.handler(st), stage.Name(st.name))
		case kParMap:
			opts := []stage.Option{stage.Name(st.name)}
			if st.ordered {
				opts = append(opts, stage.Ordered())
			}
			p = p.ParMap(st.workers, r.handler(st), opts...)
		case kKeyBy:
			keys := st.keys
			p = p.Via(stage.KeyBy(st.workers, func(v rec) int { return v.ID % keys }, r.handler(st), stage.Name(st.name)))
		case kBatch:
			p = p.Batch(st.size, stage.MaxWait(st.maxWait), stage.Name(st.name))
			name := st.name + "-of-batches"
			if st.workers > 0 {
				p = p.ParMap(st.workers, r.batchHandler(st), stage.Name(name))
			} else {
				p = p.Map(r.batchHandler(st), stage.Name(name))
			}
			if st.unbatch {
				p = p.Via(stage.Unbatch[rec]())
			}
		}
	}
	return r.sinkInto(p, false)
}

// sinkInto ends p with the run's sink; clean leaves the faults out: the
// follow-up run that empties a queue, which writes into the same store
// as the main run, through a sink that stores each item as it takes it
// (the main run's sink is what is tested; the follow-up must only work).
func (r *runState) sinkInto(p *pipeline.Pipeline, clean bool) *pipeline.Pipeline {
	sk := r.s.sink
	switch {
	case sk.kind == snkJetStream:
		return p.Sink(r.js.sink(clean))
	case sk.kind == snkSQL && clean:
		return p.Sink(sink.Func(r.sql.insertOne))
	case sk.kind == snkSQL:
		if n := len(r.s.stages); n == 0 || r.s.stages[n-1].kind != kBatch {
			p = p.Batch(sk.size, stage.MaxWait(sk.maxWait))
		}
		// A row that breaks the CHECK fails its whole batch: the test
		// notes each batch as it goes into the sink, in the sink's
		// goroutine, to know which inputs such a fault fails.
		p = p.Map(stage.Func(func(_ context.Context, b []rec) ([]rec, error) {
			r.sql.batch = b
			return b, nil
		}), stage.Name("note-batch"))
		return p.Sink(r.sql.sink())
	case clean:
		return p.Sink(sink.Func(func(_ context.Context, v rec) error {
			r.mu.Lock()
			r.followed[v.ID]++
			r.mu.Unlock()
			return nil
		}))
	case sk.kind == snkFunc:
		return p.Sink(sink.Func(func(_ context.Context, v rec) error {
			if err := r.inject(sk.idx, sk.rate, []int{v.ID}); err != nil {
				return err
			}
			r.mu.Lock()
			r.sunk[v.ID]++
			r.sunkItems++
			r.mu.Unlock()
			return nil
		}))
	default:
		return p.Sink(r.text.sink())
	}
}

// source starts the pipeline at the run's source, emitting recs.
func (r *runState) source(opts ...pipeline.Option) *pipeline.Pipeline {
	switch r.s.src.kind {
	case srcJetStream:
		return pipeline.New(r.js.source(false), opts...)
	case srcSQL:
		return pipeline.New(r.sql.source(), opts...)
	default:
		return r.text.source(opts...)
	}
}
