package flow

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/pool"
	"go.uber.org/zap"
)

// Counts are the run's item counters, in source items (see Tag): every item
// the source emits ends as exactly one of Done, Dropped, Skipped,
// DeadLettered, Requeued or Failed, or is abandoned when the run stops without
// finishing it. Retried counts extra attempts, not items.
type Counts struct {
	In           atomic.Int64 // items the source emitted
	Done         atomic.Int64 // items the sink accepted, through all their descendants
	Failed       atomic.Int64 // items whose failure stopped the run
	Skipped      atomic.Int64 // items dropped by the Skip policy
	Dropped      atomic.Int64 // items a Filter left out
	Retried      atomic.Int64 // extra attempts made by the Retry policy
	DeadLettered atomic.Int64 // items handed to a dead-letter function
	Requeued     atomic.Int64 // items handed back to their source to be delivered again
}

// Settled returns the source items settled so far, whatever their
// outcome.
func (c *Counts) Settled() int64 {
	return c.Done.Load() + c.Dropped.Load() + c.Skipped.Load() + c.DeadLettered.Load() + c.Requeued.Load() + c.Failed.Load()
}

// of returns the counter of outcome o.
func (c *Counts) of(o Outcome) *atomic.Int64 {
	switch o {
	case Dropped:
		return &c.Dropped
	case Done:
		return &c.Done
	case Skipped:
		return &c.Skipped
	case DeadLettered:
		return &c.DeadLettered
	case Requeued:
		return &c.Requeued
	default:
		return &c.Failed
	}
}

// Run is the state one pipeline run shares between its stages.
type Run struct {
	Start  time.Time
	Logger *zap.Logger
	Policy Policy // the pipeline's default error policy
	Counts Counts
	// Live makes the counts current at every item, for a run that someone
	// watches while it goes (a progress bar), at the cost of an atomic
	// operation per item and count. Set it before the stages attach.
	Live bool
	// Metered gives each stage a Meter (Scope.Meter). Set it before the
	// stages attach.
	Metered bool
	// Budget is the run's failure budget: exceeding it stops the run with
	// a *BudgetError. Set it before Execute.
	Budget Budget

	tasks   []func(context.Context) error
	tallies []*Tally
	meters  []*Meter
	ends    []func(error)
	end     atomic.Int64 // when Execute returned, since Start

	leftBehind atomic.Int64 // goroutines that outlive the run (LeaveBehind)

	drainMu  sync.Mutex
	draining atomic.Bool
	onDrain  []func()

	deadMu sync.Mutex // serializes dead-letter calls

	losses losses // the source items that failed, and the budget's state
}

// NewRun prepares a run; nothing starts until Execute.
func NewRun(logger *zap.Logger, policy Policy) *Run {
	return &Run{Start: time.Now(), Logger: logger, Policy: policy}
}

// Scope returns the scope of the stage at index, named name.
func (r *Run) Scope(index int, name string) *Scope {
	sc := &Scope{Index: index, Name: name, Logger: r.Logger.Named(name), Run: r}
	if r.Metered {
		sc.Meter = &Meter{Index: index, Name: name, run: r, weight: 1, rng: uint64(index)*0x9e3779b97f4a7c15 + 1}
		r.meters = append(r.meters, sc.Meter)
	}
	return sc
}

// Begin marks the start of the run, once it is built: its clock (Start)
// and its meters count from here. Call it before anything reads them from
// another goroutine (a watcher of the run).
func (r *Run) Begin() { r.Start = time.Now() }

// Meters returns the meters of the run's stages, in chain order, the
// source's first.
func (r *Run) Meters() []*Meter {
	ms := slices.Clone(r.meters)
	slices.SortFunc(ms, func(a, b *Meter) int { return a.Index - b.Index })
	return ms
}

// Elapsed returns the time since the run started, or how long it ran once
// Execute has returned.
func (r *Run) Elapsed() time.Duration {
	if e := r.end.Load(); e > 0 {
		return time.Duration(e)
	}
	return time.Since(r.Start)
}

// Ended returns how long the run ran, or 0 while Execute has not returned.
func (r *Run) Ended() time.Duration { return time.Duration(r.end.Load()) }

// linkMeters tells each sequential stage's meter which meter's calls its
// own run inside: the previous stage's, unless that one is the source or
// runs goroutines of its own.
func (r *Run) linkMeters() {
	ms := r.Meters()
	cost := int64(0)
	if len(ms) > 0 {
		cost = overhead()
	}
	for _, m := range ms {
		m.own = m.workers.Load() > 0
		m.cost = cost
	}
	for i := 2; i < len(ms); i++ {
		if prev := ms[i-1]; prev.workers.Load() == 0 {
			ms[i].parent = prev
		}
	}
}

// Execute starts every registered goroutine in one conc pool and waits for
// all of them. The first error cancels the context the others run under;
// conc records it before cancelling, so it is the error Execute returns,
// unless the failure budget was exceeded: that cancels the context too,
// from wherever an item settled, and its *BudgetError is returned, whatever
// the goroutines returned as they stopped. Panics in the engine itself (not
// in user code, which is recovered per call) are re-raised here after every
// goroutine has stopped. The counts are exact once Execute has returned.
func (r *Run) Execute(ctx context.Context) error {
	r.linkMeters()
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	r.losses.abort = abort
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	for _, t := range r.tasks {
		p.Go(t)
	}
	err := p.Wait()
	if over := r.Exceeded(); over != nil {
		err = over
	}
	for _, t := range r.tallies {
		t.flush()
	}
	for _, m := range r.meters {
		m.publish()
	}
	r.end.Store(int64(max(time.Since(r.Start), 1)))
	for _, f := range r.ends {
		f(err)
	}
	return err
}

// OnEnd registers f to be called with the run's error (nil on success)
// once every goroutine of the run has stopped: a sink discards there what
// a run that did not finish left half-written. Stages call it while they
// attach.
func (r *Run) OnEnd(f func(err error)) { r.ends = append(r.ends, f) }

// Drain asks the source to stop emitting; items already emitted go on to the
// sink. It is safe to call more than once and from any goroutine.
func (r *Run) Drain() {
	r.drainMu.Lock()
	if r.draining.Load() {
		r.drainMu.Unlock()
		return
	}
	r.draining.Store(true)
	fs := r.onDrain
	r.onDrain = nil
	r.drainMu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Draining reports whether Drain was called. It costs one atomic load.
func (r *Run) Draining() bool { return r.draining.Load() }

// OnDrain calls f when Drain is called, or now if it already was.
func (r *Run) OnDrain(f func()) {
	r.drainMu.Lock()
	if !r.draining.Load() {
		r.onDrain = append(r.onDrain, f)
		r.drainMu.Unlock()
		return
	}
	r.drainMu.Unlock()
	f()
}

// Scope is what one stage sees of the run while it is attached: its name and
// position for errors, its logger, and the run itself.
type Scope struct {
	Index  int
	Name   string
	Logger *zap.Logger
	Run    *Run
	Meter  *Meter // nil when the run is not metered
}

// Go registers a goroutine of the stage. It starts when the run starts, under
// the run's context, and the run waits for it.
func (s *Scope) Go(f func(ctx context.Context) error) {
	s.Run.tasks = append(s.Run.tasks, f)
}

// Invalid returns the BuildError for this stage.
func (s *Scope) Invalid(reason string) error {
	return &BuildError{Stage: s.Name, Index: s.Index, Reason: reason}
}

// Sub returns the scope of a stage nested in this one (stage.Chain), so its
// errors and logs name it.
func (s *Scope) Sub(name string) *Scope {
	return &Scope{Index: s.Index, Name: s.Name + "/" + name, Logger: s.Logger.Named(name), Run: s.Run, Meter: s.Meter}
}
