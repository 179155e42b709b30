package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// runState is one run: the spec, the context and stop channel it runs
// under, the run-level faults fired so far, and what the test's code saw.
type runState struct {
	s       *spec
	ctx     context.Context
	cancel  context.CancelFunc
	stop    chan os.Signal // unbuffered: a send returns once Run received it
	runDone chan struct{}  // closed when Run has returned
	drained chan struct{}  // closed when the first signal was received

	fireMu sync.Mutex // one run-level fault at a time
	over   bool       // Run returned: fire nothing more

	ticks                              atomic.Int64
	drainTick                          atomic.Int64 // the tick of the drain; 0 before
	cancelFired, drainFired, hardFired atomic.Bool

	yieldCalls, yieldTrue atomic.Int64                    // generator, Seq and Seq2 sources
	genCtx                atomic.Pointer[context.Context] // the generator's ctx, once it runs
	inits, closes         atomic.Int64                    // PerWorker handlers
	dlBusy                atomic.Bool

	mu         sync.Mutex // guards what follows
	events     []event
	attempts   map[callKey]int
	violations []string
	tr         tracker

	budgetStopped bool                  // the failure budget stopped the run
	outputChecked bool                  // the sink's items were compared with the model's
	exits         []pipeline.ExitStatus // what OnExit got

	collected []item         // snkCollect's slice, read after Run
	sinkCh    chan item      // snkChan's channel, closed after Run
	helpers   sync.WaitGroup // the test's goroutines: feeder, reader, timers
}

func newRunState(s *spec) *runState {
	r := &runState{
		s:        s,
		stop:     make(chan os.Signal),
		runDone:  make(chan struct{}),
		drained:  make(chan struct{}),
		attempts: map[callKey]int{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.tr = tracker{r: r, nodes: map[uint64]*node{}}
	if s.sink.kind != snkCollect {
		// A Collect sink's items are seen only after Run: until then
		// nothing would count as settled.
		r.tr.bound = s.memBound()
	}
	return r
}

func (r *runState) violatef(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violateLocked(fmt.Sprintf(format, args...))
}

func (r *runState) violateLocked(v string) {
	const most = 30
	switch {
	case len(r.violations) < most:
		r.violations = append(r.violations, v)
	case len(r.violations) == most:
		r.violations = append(r.violations, "... more violations left out")
	}
}

// build makes the pipeline of the spec, and starts the test's goroutines
// that feed a channel source and read a channel sink.
func (r *runState) build() *pipeline.Pipeline {
	opts := []pipeline.Option{
		pipeline.WithStopChannel(r.stop),
		pipeline.OnError(r.policy(r.s.policy)),
		pipeline.OnExit(func(st pipeline.ExitStatus) { r.exits = append(r.exits, st) }),
	}
	switch b := r.s.budget; b.kind {
	case bOff:
		opts = append(opts, pipeline.WithoutFailureBudget())
	case bMax:
		opts = append(opts, pipeline.FailureBudget(pipeline.MaxFailures(b.max)))
	}
	if r.s.logLevel > -2 {
		// Logging only needs to run: it calls label functions and takes
		// paths of its own (ParMap's per-item debug line, skip logs).
		core, _ := observer.New(zapcore.Level(r.s.logLevel))
		opts = append(opts, pipeline.WithLogger(zap.New(core)))
	}
	p := pipeline.New(r.source(), opts...)
	for _, st := range r.s.stages {
		p = r.add(p, st)
	}
	return p.Sink(r.sink())
}

func (r *runState) policy(ps policySpec) stage.Policy {
	switch ps.mode {
	case pSkip:
		return stage.Skip()
	case pDeadLetter:
		return stage.DeadLetter(r.deadLetter)
	case pRetry:
		p := stage.Retry(ps.attempts, ps.base, ps.max)
		if ps.thenSet {
			p = p.Then(r.policy(policySpec{mode: ps.then}))
		}
		return p
	default:
		return stage.FailFast()
	}
}

// opts are the options of a stage; label is its stage.Label option.
func (r *runState) opts(st *stageSpec, label stage.Option) []stage.Option {
	o := []stage.Option{stage.Name(st.name)}
	if st.buffer > 0 {
		o = append(o, stage.Buffer(st.buffer))
	}
	if st.ordered {
		o = append(o, stage.Ordered())
	}
	if st.window > 0 {
		o = append(o, stage.Window(st.window))
	}
	if st.label {
		o = append(o, label)
	}
	if st.policy != nil {
		o = append(o, stage.OnError(r.policy(*st.policy)))
	}
	return o
}

var (
	itemLabel  = stage.Label(func(it item) string { return it.label() })
	batchLabel = stage.Label(batchLabelOf)
)

func batchLabelOf(b []item) string { return "b" + strconv.FormatUint(batchUID(b), 16) }

func (r *runState) add(p *pipeline.Pipeline, st *stageSpec) *pipeline.Pipeline {
	switch st.kind {
	case kMap:
		return p.Map(procOf(r, st, r.mapFn(st)), r.opts(st, itemLabel)...)
	case kParMap:
		return p.ParMap(st.workers, procOf(r, st, r.mapFn(st)), r.opts(st, itemLabel)...)
	case kFilter:
		return p.Filter(r.filterFn(st), r.opts(st, itemLabel)...)
	case kFlatMap:
		return p.FlatMap(stage.Flat(r.flatFn(st)), r.opts(st, itemLabel)...)
	case kTap:
		return p.Tap(r.tapFn(st), r.opts(st, itemLabel)...)
	case kBatch:
		bo := []stage.Option{stage.Name(st.name)}
		if st.maxWait > 0 {
			bo = append(bo, stage.MaxWait(st.maxWait))
			if st.buffer > 0 {
				bo = append(bo, stage.Buffer(st.buffer))
			}
		}
		p = p.Batch(st.size, bo...)
		c := st.consumer
		if c.kind == kMap {
			return p.Map(procOf(r, c, r.mergeFn(c)), r.opts(c, batchLabel)...)
		}
		return p.ParMap(c.workers, procOf(r, c, r.mergeFn(c)), r.opts(c, batchLabel)...)
	case kChain:
		return p.Via(stage.Chain(r.typed(st.sub[0]), r.typed(st.sub[1])))
	}
	panic("unknown stage kind")
}

// typed makes a member of a Chain with the typed constructors.
func (r *runState) typed(st *stageSpec) *stage.Of[item, item] {
	o := r.opts(st, itemLabel)
	switch st.kind {
	case kMap:
		return stage.Map(r.mapFn(st), o...)
	case kParMap:
		return stage.ParMap(st.workers, stage.Func(r.mapFn(st)), o...)
	case kFilter:
		return stage.Filter(r.filterFn(st), o...)
	case kFlatMap:
		return stage.FlatMap(r.flatFn(st), o...)
	default:
		return stage.Tap(r.tapFn(st), o...)
	}
}

// procOf makes the handler of a Map or ParMap: shared, or built per worker
// (and then closed, which the suite counts).
func procOf[In any](r *runState, st *stageSpec, f func(context.Context, In) (item, error)) stage.Proc[In, item] {
	if !st.perWorker {
		return stage.Func(f)
	}
	return stage.PerWorker(func(ctx context.Context, w stage.Worker) (stage.Handler[In, item], error) {
		r.tick()
		if w.Logger == nil {
			r.violatef("%s: worker %d got a nil logger", st.name, w.ID)
		}
		if w.ID == st.initFail {
			err := fmt.Errorf("%w: init of worker %d of %s", errInjected, w.ID, st.name)
			r.record(event{kind: evFatal, stage: st.name, label: "worker-" + strconv.Itoa(w.ID), err: err, what: "init fails"})
			return nil, err
		}
		r.inits.Add(1)
		return &perWorker[In]{r: r, name: st.name, f: f}, nil
	})
}

type perWorker[In any] struct {
	r      *runState
	name   string
	f      func(context.Context, In) (item, error)
	closed atomic.Bool
}

func (h *perWorker[In]) Handle(ctx context.Context, in In) (item, error) { return h.f(ctx, in) }

func (h *perWorker[In]) Close() error {
	if h.closed.Swap(true) {
		h.r.violatef("%s: a PerWorker handler was closed twice", h.name)
	}
	h.r.closes.Add(1)
	return nil
}

func (r *runState) labelOf(st *stageSpec, it item) string {
	if st.label {
		return it.label()
	}
	return ""
}

// see notes that stage st got node it.
func (r *runState) see(it item, where string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tr.see(it.uid, where)
}

func (r *runState) mapFn(st *stageSpec) func(context.Context, item) (item, error) {
	pol := r.s.policyOf(st)
	return func(ctx context.Context, in item) (item, error) {
		r.see(in, st.name)
		if err := r.inject(ctx, st.idx, st.faultRate, st.name, pol, in.uid, r.labelOf(st, in)); err != nil {
			return item{}, err
		}
		return st.transform(in), nil
	}
}

func (r *runState) mergeFn(st *stageSpec) func(context.Context, []item) (item, error) {
	pol := r.s.policyOf(st)
	return func(ctx context.Context, b []item) (item, error) {
		r.mu.Lock()
		r.tr.batch(b, st.name)
		r.mu.Unlock()
		label := ""
		if st.label {
			label = batchLabelOf(b)
		}
		if err := r.inject(ctx, st.idx, st.faultRate, st.name, pol, batchUID(b), label); err != nil {
			return item{}, err
		}
		return st.merge(b), nil
	}
}

func (r *runState) filterFn(st *stageSpec) func(context.Context, item) (bool, error) {
	pol := r.s.policyOf(st)
	return func(ctx context.Context, in item) (bool, error) {
		r.see(in, st.name)
		if err := r.inject(ctx, st.idx, st.faultRate, st.name, pol, in.uid, r.labelOf(st, in)); err != nil {
			return false, err
		}
		keep := st.keeps(r.s.seed, in)
		if !keep {
			r.mu.Lock()
			r.tr.drop(in.uid, st.name)
			r.mu.Unlock()
		}
		return keep, nil
	}
}

func (r *runState) flatFn(st *stageSpec) func(context.Context, item) ([]item, error) {
	pol := r.s.policyOf(st)
	return func(ctx context.Context, in item) ([]item, error) {
		r.see(in, st.name)
		if err := r.inject(ctx, st.idx, st.faultRate, st.name, pol, in.uid, r.labelOf(st, in)); err != nil {
			return nil, err
		}
		kids := st.children(r.s.seed, in)
		r.mu.Lock()
		r.tr.expand(in.uid, kids, st.name)
		r.mu.Unlock()
		return kids, nil
	}
}

func (r *runState) tapFn(st *stageSpec) func(context.Context, item) error {
	pol := r.s.policyOf(st)
	return func(ctx context.Context, in item) error {
		r.see(in, st.name)
		return r.inject(ctx, st.idx, st.faultRate, st.name, pol, in.uid, r.labelOf(st, in))
	}
}

// deadLetter is the dead-letter function of every DeadLetter policy.
func (r *runState) deadLetter(ctx context.Context, d stage.DeadLetterItem) error {
	if r.dlBusy.Swap(true) {
		r.violatef("dead-letter calls overlap")
	}
	defer r.dlBusy.Store(false)
	r.tick()
	var uid uint64
	switch v := d.Item.(type) {
	case item:
		uid = v.uid
	case []item:
		uid = batchUID(v)
	default:
		r.violatef("the dead-letter function got an item of type %T from %q", d.Item, d.Stage)
		return nil
	}
	var se *stage.Error
	var pe *stage.PanicError
	switch {
	case !errors.As(d.Err, &se):
		r.violatef("dead letter %x from %q: Err is %T, not a *stage.Error", uid, d.Stage, d.Err)
	case se.Stage != d.Stage || se.Label != d.Label:
		r.violatef("dead letter %x: stage %q label %q, but its error says stage %q label %q", uid, d.Stage, d.Label, se.Stage, se.Label)
	case !errors.Is(d.Err, errInjected) && !(errors.As(d.Err, &pe) && isInjectedPanic(pe)):
		r.violatef("dead letter %x from %q: the error is not the one injected: %v", uid, d.Stage, d.Err)
	}
	where := d.Stage
	if i := lastSlash(where); i >= 0 {
		where = where[i+1:] // a Chain's member: "a+b/a"
	}
	fails := r.s.dlFails(uid)
	r.mu.Lock()
	r.tr.deadLettered(uid, fails, where)
	r.mu.Unlock()
	if fails {
		err := fmt.Errorf("%w: the dead-letter store refused %x", errInjected, uid)
		r.record(event{kind: evFatal, stage: d.Stage, label: d.Label, err: err, what: "dead-letter function fails"})
		return err
	}
	return nil
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func isInjectedPanic(pe *stage.PanicError) bool {
	_, ok := pe.Value.(*injectedPanic)
	return ok
}

const sourceName = "src"

func (r *runState) source() source.Source {
	src := r.s.src
	switch src.kind {
	case srcSlice:
		items := make([]item, src.n)
		for i := range items {
			items[i] = srcItem(i)
		}
		return source.Slice(items).Named(sourceName)
	case srcFunc:
		return source.Func(r.generate).Named(sourceName)
	case srcSeq2:
		return source.Seq2(r.seq2()).Named(sourceName)
	case srcSeq:
		return source.Seq(r.seq()).Named(sourceName)
	default:
		ch := make(chan item, src.chanCap)
		r.helpers.Go(func() { r.feed(ch) })
		return source.Chan(ch).Named(sourceName)
	}
}

// sourceFault fires the source's error or panic at item i, if it is due.
func (r *runState) sourceFault(i int) error {
	src := r.s.src
	label := "#" + strconv.Itoa(i) // the library labels a source error with the items emitted before it
	switch i {
	case src.errAt:
		err := fmt.Errorf("%w: the source fails at item %d", errInjected, i)
		r.record(event{kind: evFatal, stage: sourceName, label: label, err: err, what: "source error"})
		return err
	case src.panicAt:
		pv := &injectedPanic{fmt.Sprintf("the source panics at item %d", i)}
		r.record(event{kind: evFatal, stage: sourceName, label: label, panic: pv, what: "source panic"})
		injectPanic(pv)
	}
	return nil
}

// generate is the generator of a source.Func.
func (r *runState) generate(ctx context.Context, yield func(item) bool) error {
	r.genCtx.Store(&ctx)
	for i := range r.s.src.n {
		r.tick()
		if err := r.sourceFault(i); err != nil {
			return err
		}
		if f := r.s.faultOf(0, 0, uint64(i)); f.slow > 0 {
			if !f.slowCtx {
				time.Sleep(f.slow)
			} else if err := sleepCtx(ctx, f.slow); err != nil {
				// A drain or a stop: the library ignores this error.
				return err
			}
		}
		r.mu.Lock()
		r.tr.take(i)
		r.mu.Unlock()
		r.yieldCalls.Add(1)
		stopping := ctx.Err() != nil
		if !yield(srcItem(i)) {
			return nil
		}
		if stopping {
			// The source's doc: when its ctx is done (a drain or a
			// stop), yield returns false.
			r.violatef("source: yield of item %d returned true, but the generator's ctx was done before it", i)
		}
		r.yieldTrue.Add(1)
	}
	return nil
}

// seq2 is the sequence of a source.Seq2.
func (r *runState) seq2() iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		for i := range r.s.src.n {
			r.tick()
			if err := r.sourceFault(i); err != nil {
				yield(item{}, err)
				return
			}
			if f := r.s.faultOf(0, 0, uint64(i)); f.slow > 0 {
				time.Sleep(f.slow)
			}
			r.mu.Lock()
			r.tr.take(i)
			r.mu.Unlock()
			r.yieldCalls.Add(1)
			if !yield(srcItem(i), nil) {
				return
			}
			r.yieldTrue.Add(1)
		}
	}
}

// seq is the sequence of a source.Seq.
func (r *runState) seq() iter.Seq[item] {
	return func(yield func(item) bool) {
		for i := range r.s.src.n {
			r.tick()
			if f := r.s.faultOf(0, 0, uint64(i)); f.slow > 0 {
				time.Sleep(f.slow)
			}
			r.mu.Lock()
			r.tr.take(i)
			r.mu.Unlock()
			r.yieldCalls.Add(1)
			if !yield(srcItem(i)) {
				return
			}
			r.yieldTrue.Add(1)
		}
	}
}

// feed feeds a channel source, and closes the channel after the last item
// unless the run ended first.
func (r *runState) feed(ch chan<- item) {
	for i := range r.s.src.n {
		r.mu.Lock()
		r.tr.take(i) // offered: taken, as far as the memory bound is concerned
		r.mu.Unlock()
		select {
		case ch <- srcItem(i):
		case <-r.runDone:
			return
		}
	}
	close(ch)
}

func (r *runState) sink() sink.Sink {
	sk := r.s.sink
	switch sk.kind {
	case snkCollect:
		return sink.Collect(&r.collected).Named(sk.name)
	case snkChan:
		r.sinkCh = make(chan item, sk.chanCap)
		r.helpers.Go(r.read)
		return sink.Chan(r.sinkCh).Named(sk.name)
	default:
		return sink.Func(r.sinkFn).Named(sk.name)
	}
}

func (r *runState) sinkFn(ctx context.Context, v item) error {
	sk := r.s.sink
	r.see(v, sk.name)
	if err := r.inject(ctx, sk.idx, sk.faultRate, sk.name, r.s.policy, v.uid, ""); err != nil {
		return err
	}
	if d, watch := r.s.sinkBlocks(v.uid); d > 0 {
		if !watch {
			time.Sleep(d)
		} else if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.tr.accept(v, sk.name)
	r.mu.Unlock()
	return nil
}

// read reads a channel sink until the test closes it after Run; it blocks
// now and then, like a slow consumer.
func (r *runState) read() {
	for v := range r.sinkCh {
		r.mu.Lock()
		r.tr.accept(v, r.s.sink.name)
		r.mu.Unlock()
		if d, _ := r.s.sinkBlocks(v.uid); d > 0 {
			time.Sleep(d)
		}
	}
}
