package connchaos_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
	"github.com/conveyor-go/conveyor/pipeline"
)

// TestConnChaos draws -connchaos.runs random runs over the connectors,
// with random faults, and checks the invariants of package connchaos on
// each. Run i uses the seed -connchaos.seed + i, so a failing run replays
// alone with its own seed and -connchaos.runs=1.
func TestConnChaos(t *testing.T) {
	base := *seedFlag
	if base == 0 {
		base = time.Now().UnixNano() % 1_000_000_000_000
	}
	t.Logf("connchaos: base seed %d, %d runs (replay all with -connchaos.seed=%d)", base, *runsFlag, base)
	start := time.Now()
	failed := 0
	tl := newTally()
	for i := range *runsFlag {
		seed := base + int64(i)
		if !t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runOne(t, seed, tl) }) {
			failed++
			tl.failing = append(tl.failing, seed)
			if *maxFailFlag > 0 && failed >= *maxFailFlag {
				t.Logf("connchaos: stopping after %d failing runs (-connchaos.maxfail)", failed)
				break
			}
		}
	}
	t.Logf("connchaos: done in %v, %d failing runs\n%s", time.Since(start).Round(time.Millisecond), failed, tl)
}

// runOne sets up the run of seed, runs it under a watchdog, empties what
// it left in a queue with a clean follow-up run, checks every invariant,
// and tears it all down.
func runOne(t *testing.T, seed int64, tl *tally) {
	began := time.Now()
	before := goroutineIDs()
	s := generate(seed)
	if *verboseFlag {
		t.Log(s.describe())
	}
	r := newRunState(t, s)
	if err := r.open(); err != nil {
		r.close()
		t.Fatalf("%s\n%ssetting up: %v", replay(seed), s.describe(), err)
	}
	p := r.build()
	st, ok := r.run(p)
	r.finish()
	var fu *followUp
	if ok && r.sql != nil && r.sql.out != nil {
		if _, n, err := r.sql.outIDs(); err != nil {
			r.violatef("output: reading the table after the run: %v", err)
		} else {
			r.sql.mainRows = n
		}
	}
	if ok {
		if gs := leaked(before, library(s.src.plain), time.Second); len(gs) > 0 {
			r.violatef("goroutines of the library left behind after Run returned:%s", describeLeaks(gs))
		}
		fu = r.followUpRun()
		r.check(st, fu)
	}
	r.close()
	if gs := leaked(before, notServer, 2*time.Second); len(gs) > 0 {
		r.violatef("goroutines left behind once the run was torn down:%s", describeLeaks(gs))
	}
	tl.add(r, st, time.Since(began))
	if *verboseFlag {
		t.Logf("ended %s in %v (%+v); %d faults fired", faultkit.EndingOf(st).String(), r.ended.Sub(r.start).Round(time.Millisecond), st.Counts, len(r.failures))
	}
	if len(r.violations) > 0 {
		t.Errorf("%s", r.report(st))
	}
}

// open sets up the connectors the run uses.
func (r *runState) open() error {
	if r.s.jetstream() {
		if err := r.openJS(); err != nil {
			return err
		}
	}
	if r.s.src.kind == srcSQL || r.s.sink.kind == snkSQL {
		if err := r.openSQL(); err != nil {
			return err
		}
	}
	return r.openText()
}

// close tears the connectors down.
func (r *runState) close() {
	if r.text != nil {
		r.text.close()
	}
	if r.sql != nil {
		r.sql.close()
	}
	if r.js != nil {
		r.js.close()
	}
}

// run runs p with its faults under the watchdog. ok is false when the
// watchdog found Run stuck; it then dumped the goroutines, released what
// the run could be blocked on, and waited for Run to return.
func (r *runState) run(p *pipeline.Pipeline) (pipeline.ExitStatus, bool) {
	done := make(chan pipeline.ExitStatus, 1)
	r.start = time.Now()
	r.startFaults()
	go func() { done <- p.Run(r.ctx) }()
	limit := r.start.Add(watchdog)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case st := <-done:
			r.ended = time.Now()
			close(r.runDone)
			return st, true
		case now := <-tick.C:
			dl, why := r.deadline(limit)
			if now.Before(dl) {
				continue
			}
			r.violatef("hang: Run did not return %s; the library's goroutines:\n%s", why, runStacks())
			r.unstick()
			select {
			case st := <-done:
				r.ended = time.Now()
				close(r.runDone)
				return st, false
			case <-time.After(20 * time.Second):
				r.t.Fatalf("%s\n%sRun is still stuck 20s after the watchdog cancelled it and released its input:\n%s",
					replay(r.s.seed), r.s.describe(), strings.Join(r.violations, "\n"))
			}
		}
	}
}

// grace is how long past its bound a stopping run may take before the
// watchdog gives up on it: the bound itself is checked precisely once Run
// returns, this only keeps a hung run from holding the suite.
const grace = 3 * time.Second

// stall is how long a run may go without calling the test's code (a
// decode, a handler, a sink) before the watchdog gives up on it: longer
// than a redelivery after AckWait, or an outage, may hold it.
func (r *runState) stall() time.Duration {
	d := 5*time.Second + r.s.run.outageFor
	if r.s.src.kind == srcJetStream {
		d += 2*r.s.src.ackWait + r.s.src.maxWait
	}
	return d
}

// watchdog is how long a run may take at most, progressing or not.
const watchdog = time.Minute

// deadline is when the watchdog gives up on the run: once it has not
// progressed for a while, or at limit, or sooner once a stop (or a drain)
// came and its bound and the grace have passed.
func (r *runState) deadline(limit time.Time) (time.Time, string) {
	dl, why := limit, fmt.Sprintf("within the watchdog's %v", watchdog)
	consider := func(at time.Time, bound time.Duration, what string) {
		if !at.IsZero() && at.Add(bound+grace).Before(dl) {
			dl, why = at.Add(bound+grace), fmt.Sprintf("%v after the %s (bound %v, and %v of grace)", bound+grace, what, bound, grace)
		}
	}
	last := time.Unix(0, max(r.progress.Load(), r.start.UnixNano()))
	if at := last.Add(r.stall()); at.Before(dl) {
		dl, why = at, fmt.Sprintf("and made no progress for %v (no decode, handler or sink call)", r.stall())
	}
	if r.s.run.maxOutage > 0 && r.s.run.outageFor > r.maxOutage()+outageSlack {
		consider(r.firstEvent(evOutage), r.maxOutage()+time.Second+stopBound, "outage, past MaxOutage")
	}
	consider(r.firstEvent(evCancel), stopBound, "cancellation")
	consider(r.firstEvent(evHard), stopBound, "hard stop")
	if r.firstEvent(evOutage).IsZero() {
		consider(r.firstEvent(evDrain), r.drainBound(), "drain")
	}
	if r.s.policy.mode == pFailFast {
		r.mu.Lock()
		var first time.Time
		if len(r.failures) > 0 {
			first = r.failures[0].at
		}
		r.mu.Unlock()
		consider(first, stopBound, "first fault under fail fast")
	}
	return dl, why
}

// unstick cancels a stuck run and releases what it may be blocked on.
func (r *runState) unstick() {
	r.cancel()
	if r.text != nil {
		r.text.release()
	}
}

// finish ends the run's side of the test once Run has returned: nothing
// more fires, the writers' ends are released, and the test's goroutines
// (an outage among them: the server is up again after) are waited for.
func (r *runState) finish() {
	r.cancel()
	if r.text != nil {
		r.text.release()
	}
	r.helpers.Wait()
}

// followUp is the clean run that empties the queue of a JetStream source
// after the main run, and what the queue held after it.
type followUp struct {
	st   pipeline.ExitStatus
	hang string      // the follow-up did not return in time
	left map[int]int // inputs still in the queue after it
	err  error       // reading the queue
}

// followUpRun runs the follow-up of a JetStream source's run.
func (r *runState) followUpRun() *followUp {
	if r.s.src.kind != srcJetStream {
		return nil
	}
	fu := &followUp{}
	fu.st, fu.hang = r.followUp()
	fu.left, fu.err = r.js.streamIDs(r.js.in)
	return fu
}

// runWatched runs p until it returns, or for limit at most: then it dumps
// the goroutines, cancels the run, and waits for it a little more.
func runWatched(p *pipeline.Pipeline, limit time.Duration) (pipeline.ExitStatus, string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan pipeline.ExitStatus, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case st := <-done:
		return st, ""
	case <-time.After(limit):
	}
	stacks := runStacks()
	cancel()
	select {
	case st := <-done:
		return st, fmt.Sprintf("did not return within %v; goroutines:\n%s", limit, stacks)
	case <-time.After(10 * time.Second):
		return pipeline.ExitStatus{}, fmt.Sprintf("did not return within %v, nor 10s after its cancellation; goroutines:\n%s", limit, stacks)
	}
}

func replay(seed int64) string {
	return fmt.Sprintf("connchaos: seed %d; replay with\n\tgo test ./internal/connchaos -run TestConnChaos -connchaos.seed=%d -connchaos.runs=1 -connchaos.v", seed, seed)
}

// report is the failure message of a run: how to replay it, the run,
// what happened, and every invariant it broke.
func (r *runState) report(st pipeline.ExitStatus) string {
	var b strings.Builder
	b.WriteString(replay(r.s.seed) + "\n")
	b.WriteString(r.s.describe())
	msg := faultkit.Clip(st.Message, 600)
	fmt.Fprintf(&b, "exit status: code %d after %v, stage %q, target %q, message %q\n", st.Code, r.ended.Sub(r.start).Round(time.Millisecond), st.Stage, st.Target, msg)
	fmt.Fprintf(&b, "counts: %+v\n", st.Counts)
	b.WriteString("events:")
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		fmt.Fprintf(&b, " %s at %v;", evNames[e.kind], e.at.Sub(r.start).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "\nfaults fired: %d", len(r.failures))
	for i, f := range r.failures {
		if i == 5 {
			fmt.Fprintf(&b, "\n  - ... %d more", len(r.failures)-5)
			break
		}
		fmt.Fprintf(&b, "\n  - %v at %v", f, f.at.Sub(r.start).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "\nseen: %d items on the source side, %d dead-lettered, %d into a func sink\n", r.seen.Load(), r.deadItems, r.sunkItems)
	b.WriteString("violations:")
	for _, v := range r.violations {
		fmt.Fprintf(&b, "\n  - %s", v)
	}
	return b.String()
}
