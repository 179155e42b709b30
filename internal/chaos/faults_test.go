package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/stage"
)

// atom is the value a source item contributes to the items derived from it:
// its id and a value that every Map transforms, so the sink's values can be
// compared with a model's.
type atom struct {
	id int32
	v  int64
}

// item is what flows through the pipelines: a node of the suite's lineage.
// uid names the node: a source item's uid is its id; a FlatMap child's and a
// batch's are hashes with the derived bit set. Maps keep the uid: a node is
// the same node before and after a Map. atoms are the source items it
// stands for (several for a batch; a FlatMap child shares its parent's).
type item struct {
	uid   uint64
	atoms []atom
}

const derived = 1 << 63

func srcItem(id int) item { return item{uid: uint64(id), atoms: []atom{{id: int32(id), v: int64(id)}}} }

func (it item) label() string { return "u" + strconv.FormatUint(it.uid, 16) }

func batchUID(b []item) uint64 {
	h := uint64(0xba7c4)
	for _, it := range b {
		h = faultkit.Splitmix(h ^ it.uid)
	}
	return h | derived
}

// transform is what a Map or ParMap (or the handler of batches, after
// merging) does to a node: every value becomes v*mul + add.
func (st *stageSpec) transform(it item) item {
	out := item{uid: it.uid, atoms: make([]atom, len(it.atoms))}
	for i, a := range it.atoms {
		out.atoms[i] = atom{id: a.id, v: a.v*st.mul + st.add}
	}
	return out
}

// keeps is a Filter's decision, a function of the stage and the node.
func (st *stageSpec) keeps(seed int64, it item) bool {
	return int(faultkit.Mix(uint64(seed), uint64(st.idx)<<8|1, it.uid)%100) >= st.dropPct
}

// children are a FlatMap's output for a node: 0 to maxKids nodes, each with
// its parent's source items and values of its own.
func (st *stageSpec) children(seed int64, it item) []item {
	n := int(faultkit.Mix(uint64(seed), uint64(st.idx)<<8|2, it.uid) % uint64(st.maxKids+1))
	kids := make([]item, n)
	for k := range kids {
		kid := item{uid: faultkit.Mix(it.uid, uint64(st.idx), uint64(k)) | derived, atoms: make([]atom, len(it.atoms))}
		for i, a := range it.atoms {
			kid.atoms[i] = atom{id: a.id, v: a.v*31 + int64(k)}
		}
		kids[k] = kid
	}
	return kids
}

// merge is the handler of batches: one node standing for all the members.
func (st *stageSpec) merge(b []item) item {
	m := item{uid: batchUID(b)}
	for _, it := range b {
		m.atoms = append(m.atoms, it.atoms...)
	}
	return st.transform(m)
}

type faultKind uint8

const (
	fNone      faultKind = iota
	fTransient           // an error on the first k attempts
	fPermanent           // a stage.Permanent error on every attempt
	fPanic               // a panic on the first k attempts
)

var faultNames = [...]string{"none", "transient error", "permanent error", "panic"}

// fault is what the calls of one stage on one node do.
type fault struct {
	kind    faultKind
	k       int
	slow    time.Duration
	slowCtx bool // the sleep ends early when ctx is done
}

// faultOf is the fault plan: a pure function of the seed, the stage's index
// and the node, so the model and a replay see the same faults.
func (s *spec) faultOf(idx, rate int, uid uint64) fault {
	var f fault
	h := faultkit.Mix(uint64(s.seed), uint64(idx), uid)
	if rate > 0 && int(h%10000) < rate {
		h2 := faultkit.Splitmix(h)
		switch pct := int(h2 % 100); {
		case pct < s.faults.permanentPct:
			f.kind = fPermanent
		case pct < s.faults.permanentPct+s.faults.panicPct:
			f.kind = fPanic
		default:
			f.kind = fTransient
		}
		f.k = 1 + int(h2>>8%3)
	}
	if fm := s.faults; fm.slowRate > 0 {
		h3 := faultkit.Splitmix(h ^ 0x51041)
		if int(h3%10000) < fm.slowRate {
			f.slow = 1 + time.Duration(h3>>16%uint64(fm.slowMax))
			f.slowCtx = int(h3>>48%100) < fm.slowCtxPct
		}
	}
	return f
}

// fate is what the faults of one stage do to one node under policy p when
// the run is not stopping: the node passes (perhaps after retries), or the
// policy settles it (pSkip, pDeadLetter, or pFailFast: the run fails).
func (s *spec) fate(idx, rate int, p policySpec, uid uint64) (pass bool, mode policyMode) {
	f := s.faultOf(idx, rate, uid)
	switch f.kind {
	case fNone:
		return true, 0
	case fPermanent:
		_, mode = p.terminal(1, true)
		return false, mode
	}
	for attempt := 1; attempt <= f.k; attempt++ {
		if final, mode := p.terminal(attempt, false); final {
			return false, mode
		}
	}
	return true, 0
}

// dlFails says whether the dead-letter function fails for this node.
func (s *spec) dlFails(uid uint64) bool {
	return s.run.dlFailRate > 0 && int(faultkit.Mix(uint64(s.seed), 0xdead, uid)%10000) < s.run.dlFailRate
}

// sinkBlocks says how long the sink blocks on this node, and whether the
// wait ends when ctx is done.
func (s *spec) sinkBlocks(uid uint64) (time.Duration, bool) {
	sk := s.sink
	h := faultkit.Mix(uint64(s.seed), 0xb10c, uid)
	if sk.blockRate == 0 || int(h%10000) >= sk.blockRate {
		return 0, false
	}
	return 1 + time.Duration(faultkit.Splitmix(h)%uint64(sk.blockFor)), h>>40%2 == 0
}

func (s *spec) policyOf(st *stageSpec) policySpec {
	if st.policy != nil {
		return *st.policy
	}
	return s.policy
}

// errInjected is wrapped by every error the suite injects.
var errInjected = errors.New("chaos: injected")

// injectedPanic is the value of every panic the suite injects; a pointer,
// so that the ExitStatus can be matched with the very panic.
type injectedPanic struct{ what string }

func (p *injectedPanic) String() string { return "chaos: injected panic: " + p.what }

// injectPanic panics with p. Its name is what the suite looks for in the
// stack of a *stage.PanicError.
//
//go:noinline
func injectPanic(p *injectedPanic) { panic(p) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type evKind uint8

const (
	evFatal  evKind = iota // a failure the policy makes fatal, a source error, a failing init or dead-letter function
	evCancel               // the run's context was cancelled
	evDrain                // the first signal was received
	evHard                 // the second signal was received
	// evBudget: more source items than MaxFailures allows may have failed
	// by now, so the budget may stop the run from here on (it does once
	// the library has counted them): the suite notes an item failed when
	// the handler fails it, before the library settles it.
	evBudget
)

var evNames = [...]string{"fatal failure", "cancel", "drain", "hard stop", "failure budget"}

// event is a run-level fault, in the order they happened: a fatal failure
// is recorded just before the failing call returns, a cancellation just
// after cancel, a signal just after the library received it.
type event struct {
	kind  evKind
	stage string         // evFatal: the failing stage's name
	label string         // evFatal: the failing item's label, if it is known
	err   error          // evFatal: the error injected, or nil for a panic
	panic *injectedPanic // evFatal: the panic injected
	uid   uint64         // evFatal in a stage: the failing node
	node  bool           // evFatal: uid is set
	what  string
	// evCancel: the yields started by then. A yield that starts after the
	// cancellation must not emit.
	yields int64
}

func (e event) String() string {
	if e.kind == evFatal {
		return fmt.Sprintf("fatal failure in %q (item %q): %s", e.stage, e.label, e.what)
	}
	return evNames[e.kind] + " " + e.what
}

// record appends a run-level event. A stop (anything but a drain) ends the
// memory check: items abandoned by a stop are never settled.
func (r *runState) record(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if e.kind != evDrain {
		r.tr.stopping = true
	}
}

// tick counts a call into the test's code from a goroutine of the run and
// fires the run-level faults whose count has come.
func (r *runState) tick() {
	n := r.ticks.Add(1)
	rf := &r.s.run
	if rf.cancel.ticks == n {
		r.fireCancel("at tick " + strconv.FormatInt(n, 10))
	}
	if rf.drain.ticks == n {
		r.fireDrain("at tick " + strconv.FormatInt(n, 10))
	}
	if d := r.drainTick.Load(); d > 0 && rf.hard.ticks > 0 && n >= d+rf.hard.ticks {
		r.fireHard("at tick " + strconv.FormatInt(n, 10))
	}
}

// startTimers starts the goroutines that fire the run-level faults set to
// fire after a delay. They stop when the run is over.
func (r *runState) startTimers() {
	after := func(wait <-chan struct{}, d time.Duration, fire func(string)) {
		r.helpers.Go(func() {
			select {
			case <-wait:
			case <-r.runDone:
				return
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				fire("after " + d.String())
			case <-r.runDone:
			}
		})
	}
	now := make(chan struct{})
	close(now)
	rf := r.s.run
	if rf.cancel.after > 0 {
		after(now, rf.cancel.after, r.fireCancel)
	}
	if rf.drain.after > 0 {
		after(now, rf.drain.after, r.fireDrain)
	}
	if rf.hard.after > 0 {
		after(r.drained, rf.hard.after, r.fireHard)
	}
}

// fireCancel cancels the run's context. Run-level faults fire one at a
// time (fireMu), so that their order is the order recorded.
func (r *runState) fireCancel(when string) {
	if !r.cancelFired.CompareAndSwap(false, true) {
		return
	}
	r.fireMu.Lock()
	defer r.fireMu.Unlock()
	if r.over {
		return
	}
	r.cancel()
	r.record(event{kind: evCancel, what: when, yields: r.yieldCalls.Load()})
}

// fireDrain sends the first signal. The stop channel is unbuffered, so the
// send returns once the library has received the signal: the event is
// recorded when it has taken effect.
func (r *runState) fireDrain(when string) {
	if !r.drainFired.CompareAndSwap(false, true) {
		return
	}
	r.fireMu.Lock()
	defer r.fireMu.Unlock()
	if r.over {
		return
	}
	select {
	case r.stop <- syscall.SIGINT:
		r.record(event{kind: evDrain, what: when})
		r.drainTick.Store(max(1, r.ticks.Load()))
		close(r.drained)
		r.awaitDrain()
	case <-r.runDone:
	}
}

// drainDeadline is how long a drain may take to reach a generator.
const drainDeadline = 5 * time.Second

// awaitDrain waits until a drain has reached the generator of a source.Func
// (its ctx is done), so that later faults come after the drain took
// effect, and so that a drain that never stops the source is caught.
func (r *runState) awaitDrain() {
	p := r.genCtx.Load()
	if p == nil {
		return // not started: it will start with its ctx done
	}
	t := time.NewTimer(drainDeadline)
	defer t.Stop()
	select {
	case <-(*p).Done():
	case <-t.C:
		r.violatef("drain: the generator's ctx was not done %v after the library received the signal", drainDeadline)
	}
}

// fireHard sends the second signal, once the first was received.
func (r *runState) fireHard(when string) {
	if r.drainTick.Load() == 0 || !r.hardFired.CompareAndSwap(false, true) {
		return
	}
	r.fireMu.Lock()
	defer r.fireMu.Unlock()
	if r.over {
		return
	}
	sig := syscall.SIGINT
	if r.s.run.hardSig == "SIGTERM" {
		sig = syscall.SIGTERM
	}
	select {
	case r.stop <- sig:
		r.record(event{kind: evHard, what: when + " (" + r.s.run.hardSig + ")"})
	case <-r.runDone:
	}
}

// attempt counts a call of stage idx on node uid and returns its number.
func (r *runState) attempt(idx int, uid uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := callKey{idx, uid}
	r.attempts[k]++
	return r.attempts[k]
}

type callKey struct {
	idx int
	uid uint64
}

// inject runs the fault plan for one call of stage idx (named name, with
// fault rate rate and policy p) on node uid: it counts the attempt, sleeps
// if the call is slow, and returns the error the plan injects, or panics.
// When the failure is the node's last under p, it notes how the node ends;
// when p makes it fatal, it records the failure as a run-level event.
// label is the label the library gives the item, if the stage has a label
// function, else "".
func (r *runState) inject(ctx context.Context, idx, rate int, name string, p policySpec, uid uint64, label string) error {
	r.tick()
	attempt := r.attempt(idx, uid)
	f := r.s.faultOf(idx, rate, uid)
	if f.slow > 0 {
		if !f.slowCtx {
			time.Sleep(f.slow)
		} else if err := sleepCtx(ctx, f.slow); err != nil {
			return err // the run is stopping: not a fault, the item is abandoned
		}
	}
	if f.kind == fNone || (f.kind != fPermanent && attempt > f.k) {
		return nil
	}
	what := fmt.Sprintf("%s in %s on %x, attempt %d", faultNames[f.kind], name, uid, attempt)
	var err error
	var pv *injectedPanic
	switch f.kind {
	case fPermanent:
		err = stage.Permanent(fmt.Errorf("%w: %s", errInjected, what))
	case fTransient:
		err = fmt.Errorf("%w: %s", errInjected, what)
	case fPanic:
		pv = &injectedPanic{what}
	}
	if final, mode := p.terminal(attempt, f.kind == fPermanent); final {
		ctxDone := ctx.Err() != nil
		r.mu.Lock()
		r.tr.finalError(uid, mode, ctxDone, name)
		r.mu.Unlock()
		if mode == pFailFast && !ctxDone {
			r.record(event{kind: evFatal, stage: name, label: label, err: err, panic: pv, uid: uid, node: true, what: what})
		}
	}
	if pv != nil {
		injectPanic(pv)
	}
	return err
}
