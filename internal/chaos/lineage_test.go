package chaos_test

import (
	"fmt"
	"strings"
)

// outcome is how a source item ended, in the order in which a FlatMap
// parent takes the worst of its children's, then abandoned.
type outcome uint8

const (
	oDropped outcome = iota
	oDone
	oSkipped
	oDeadLettered
	oFailed
	oAbandoned
	nOutcomes
)

var outcomeNames = [...]string{"dropped", "done", "skipped", "dead-lettered", "failed", "abandoned"}

// oset is a set of outcomes: what a source item may have become when a race
// leaves it open (an item failing while the run is cancelled is failed or
// abandoned, depending on which the library saw first).
type oset uint8

func one(o outcome) oset          { return 1 << o }
func (s oset) has(o outcome) bool { return s&one(o) != 0 }
func (s oset) only() (outcome, bool) {
	for o := range nOutcomes {
		if s == one(o) {
			return o, true
		}
	}
	return 0, false
}

func (s oset) String() string {
	var names []string
	for o := range nOutcomes {
		if s.has(o) {
			names = append(names, outcomeNames[o])
		}
	}
	return strings.Join(names, "|")
}

type endKind uint8

const (
	endOpen     endKind = iota // nothing seen yet: abandoned, unless it is still moving
	endAccepted                // the sink accepted it
	endDropped                 // a Filter left it out
	endError                   // its last call failed; the policy settles it
	endExpanded                // a FlatMap replaced it with children
	endMerged                  // a Batch made it a member of batch
)

var endNames = [...]string{"open", "accepted", "dropped", "failed its last call", "expanded", "merged"}

// node is one node of the lineage the suite keeps of every run.
type node struct {
	uid   uint64
	src   bool // a source item; its uid is its id
	seen  bool // a stage or the sink got it
	end   endKind
	where string // the stage where it ended

	mode    policyMode // endError: the policy that settles it
	ctxDone bool       // endError: ctx was done when the call returned, so the library abandons it
	dl      int8       // endError under dead letter: 1 handed over, 2 the dead-letter function failed

	up       *node   // the FlatMap parent, for a child
	children []*node // endExpanded
	batch    *node   // endMerged: the batch it is a member of
	members  []*node // a batch's members

	open    int  // children not yet settled (online)
	settled bool // settled (online), for the memory check

	memo   oset
	memoOK bool
}

// tracker is the suite's own account of a run: every node the test's code
// saw, how each ended, and online, how many source items are taken and not
// settled. Its methods are called with runState.mu held.
type tracker struct {
	r        *runState
	nodes    map[uint64]*node
	taken    int // one more than the highest source id taken
	finished int // source items settled
	bound    int // the memory bound; 0: not checked
	maxLive  int // the most source items taken and not settled
	overAt   string
	stopping bool // a stop was recorded: the memory bound no longer holds
	// sureFailed is the node whose failure is the run's error: the library
	// settled it as failed before it returned the error.
	sureFailed map[uint64]bool
	sunk       []item // what the sink accepted, in order
	// failedSrc are the source items that may have failed (see fail).
	failedSrc map[uint64]bool
}

func (t *tracker) violatef(format string, args ...any) {
	t.r.violateLocked(fmt.Sprintf(format, args...))
}

// get returns the node uid, making a source item's node the first time.
func (t *tracker) get(uid uint64, where string) *node {
	n := t.nodes[uid]
	if n != nil {
		return n
	}
	n = &node{uid: uid, src: uid&derived == 0}
	t.nodes[uid] = n
	if n.src {
		t.take(int(uid))
	} else {
		t.violatef("%s got node %x, which no stage made", where, uid)
	}
	return n
}

// take notes that the source took source item id (and, since sources emit
// in order, every one before it) and checks the memory bound.
func (t *tracker) take(id int) {
	if t.nodes[uint64(id)] == nil {
		t.nodes[uint64(id)] = &node{uid: uint64(id), src: true}
	}
	if id < t.taken {
		return
	}
	t.taken = id + 1
	live := t.taken - t.finished
	if t.stopping {
		return
	}
	if live > t.maxLive {
		t.maxLive = live
	}
	if t.bound > 0 && live > t.bound && t.overAt == "" {
		t.overAt = fmt.Sprintf("%d source items taken and not settled when item %d was taken, over the bound of %d", live, id, t.bound)
		t.violatef("memory: %s", t.overAt)
	}
}

// see notes that a stage got node uid; it must still be moving.
func (t *tracker) see(uid uint64, where string) *node {
	n := t.get(uid, where)
	n.seen = true
	if n.end != endOpen {
		t.violatef("%s got node %x after it %s in %s", where, uid, endNames[n.end], n.where)
	}
	return n
}

func (t *tracker) endAt(n *node, e endKind, where string) bool {
	if n.end != endOpen {
		t.violatef("node %x ended twice: it %s in %s, then %s in %s", n.uid, endNames[n.end], n.where, endNames[e], where)
		return false
	}
	n.end, n.where = e, where
	return true
}

func (t *tracker) accept(it item, where string) {
	n := t.get(it.uid, where)
	n.seen = true
	t.sunk = append(t.sunk, it)
	if t.endAt(n, endAccepted, where) {
		t.settle(n)
	}
}

func (t *tracker) drop(uid uint64, where string) {
	if n := t.get(uid, where); t.endAt(n, endDropped, where) {
		t.settle(n)
	}
}

func (t *tracker) expand(uid uint64, kids []item, where string) {
	n := t.get(uid, where)
	if !t.endAt(n, endExpanded, where) {
		return
	}
	for _, k := range kids {
		if t.nodes[k.uid] != nil {
			t.violatef("%s made node %x twice", where, k.uid)
			continue
		}
		c := &node{uid: k.uid, up: n}
		t.nodes[k.uid] = c
		n.children = append(n.children, c)
	}
	n.open = len(n.children)
	if n.open == 0 {
		t.settle(n)
	}
}

// batch notes that the handler of batches got batch b (again, on a retry).
func (t *tracker) batch(b []item, where string) {
	uid := batchUID(b)
	bn := t.nodes[uid]
	if bn != nil {
		if len(bn.members) != len(b) {
			t.violatef("%s got batch %x with %d members, then with %d", where, uid, len(bn.members), len(b))
		}
		bn.seen = true
		return
	}
	bn = &node{uid: uid, seen: true}
	t.nodes[uid] = bn
	for _, it := range b {
		m := t.see(it.uid, where)
		if t.endAt(m, endMerged, where) {
			m.batch = bn
			bn.members = append(bn.members, m)
		}
	}
}

func (t *tracker) finalError(uid uint64, mode policyMode, ctxDone bool, where string) {
	n := t.get(uid, where)
	if !t.endAt(n, endError, where) {
		return
	}
	n.mode, n.ctxDone = mode, ctxDone
	t.fail(n)
	if mode == pSkip || mode == pFailFast {
		t.settle(n)
	}
}

// fail notes, for the failure budget, that the source items node n stands
// for may have failed: the library counts them failed when it settles
// them, which comes after this (or never, for an item it abandons). Once
// more than the budget allows may have failed, the budget may stop the
// run: an evBudget event says from when. The default budget needs at
// least 100 (its rate's minimum; no run fails 1,000 in a row), and then
// depends on the order the items settle in, which the suite does not
// predict.
func (t *tracker) fail(n *node) {
	most := t.r.s.budget.allows()
	if most < 0 {
		return
	}
	if t.failedSrc == nil {
		t.failedSrc = map[uint64]bool{}
	}
	before := len(t.failedSrc)
	t.sources(n, t.failedSrc)
	if before <= most && len(t.failedSrc) > most {
		t.r.events = append(t.r.events, event{kind: evBudget, what: fmt.Sprintf("(%d source items may have failed)", len(t.failedSrc))})
		t.stopping = true // the budget may stop the run, and abandon items
	}
}

// sources adds to into the source items node n stands for: its own, its
// members' for a batch, its parent's for a FlatMap child.
func (t *tracker) sources(n *node, into map[uint64]bool) {
	switch {
	case n.src:
		into[n.uid] = true
	case len(n.members) > 0:
		for _, m := range n.members {
			t.sources(m, into)
		}
	case n.up != nil:
		t.sources(n.up, into)
	}
}

func (t *tracker) deadLettered(uid uint64, failed bool, where string) {
	n := t.nodes[uid]
	switch {
	case n == nil || n.end != endError || n.mode != pDeadLetter:
		t.violatef("the dead-letter function got node %x from %s, which did not fail its last call under a dead-letter policy", uid, where)
		return
	case n.dl != 0:
		t.violatef("the dead-letter function got node %x twice", uid)
		return
	case n.where != where:
		t.violatef("the dead-letter function got node %x from %q, but it failed in %q", uid, where, n.where)
	}
	n.dl = 1
	if failed {
		n.dl = 2
	}
	t.settle(n)
}

// settle propagates, online, that n is settled: a batch settles its
// members, the last child its FlatMap parent, and a settled source item is
// finished for the memory check.
func (t *tracker) settle(n *node) {
	if n.settled {
		return
	}
	n.settled = true
	if n.src {
		t.finished++
	}
	for _, m := range n.members {
		t.settle(m)
	}
	if p := n.up; p != nil {
		if p.open--; p.open == 0 {
			t.settle(p)
		}
	}
}

// outcomes says what node n may have become. resolve is true when the run
// was never stopping, so no failing item can have been abandoned.
func (t *tracker) outcomes(n *node, resolve bool) oset {
	if n.memoOK {
		return n.memo
	}
	var s oset
	switch n.end {
	case endOpen:
		s = one(oAbandoned)
	case endAccepted:
		s = one(oDone)
	case endDropped:
		s = one(oDropped)
	case endMerged:
		s = t.outcomes(n.batch, resolve)
	case endExpanded:
		s = t.worstOf(n.children, resolve)
	case endError:
		var o outcome
		switch n.mode {
		case pSkip:
			o = oSkipped
		case pFailFast:
			o = oFailed
		default:
			o = [...]outcome{oAbandoned, oDeadLettered, oFailed}[n.dl]
		}
		switch {
		case n.mode == pFailFast && t.sureFailed[n.uid]:
			s = one(oFailed)
		case n.ctxDone && n.mode != pDeadLetter:
			// The library checks ctx before it settles: done, the item
			// is abandoned.
			s = one(oAbandoned)
		case resolve || n.mode == pDeadLetter:
			// The dead-letter function saw it, or not: no race.
			s = one(o)
		default:
			s = one(o) | one(oAbandoned)
		}
	}
	n.memo, n.memoOK = s, true
	return s
}

// worstOf combines the outcomes of a FlatMap's children: the worst of them
// once they are all settled, abandoned if one is not, and failed as soon as
// one failed (the run stops, so the parent is failed at once rather than
// abandoned with its other children).
func (t *tracker) worstOf(kids []*node, resolve bool) oset {
	if len(kids) == 0 {
		return one(oDropped)
	}
	type state struct {
		worst          int8 // -1: no settled child yet
		abandon, faild bool
	}
	states := map[state]bool{{worst: -1}: true}
	for _, k := range kids {
		ks := t.outcomes(k, resolve)
		next := map[state]bool{}
		for s := range states {
			for o := range nOutcomes {
				if !ks.has(o) {
					continue
				}
				n := s
				if o == oAbandoned {
					n.abandon = true
				} else {
					n.worst = max(n.worst, int8(o))
					n.faild = n.faild || o == oFailed
				}
				next[n] = true
			}
		}
		states = next
	}
	var out oset
	for s := range states {
		switch {
		case s.faild:
			out |= one(oFailed)
		case s.abandon:
			out |= one(oAbandoned)
		default:
			out |= one(outcome(s.worst))
		}
	}
	return out
}

// sourceOutcomes returns what each of the first in source items may have
// become.
func (t *tracker) sourceOutcomes(in int, resolve bool) []oset {
	out := make([]oset, in)
	for id := range in {
		n := t.nodes[uint64(id)]
		if n == nil {
			out[id] = one(oAbandoned) // emitted, never seen by the test's code
			continue
		}
		out[id] = t.outcomes(n, resolve)
	}
	return out
}
