package jetstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
	"github.com/conveyor-go/conveyor/source"
)

// session is a Source's state in one run: the consumer it pulls from and
// the messages it holds, from their arrival until their items settle.
//
// Three goroutines share it, and the message handler of nats.go's Consume:
// the handler holds each message the moment it arrives, so that keepAlive
// covers it, and hands it to the generator (generate) through hand; fetch
// runs the Consume, watches for outages and (UntilEmpty) for the end of
// the queue, and stops it; keepAlive reports the held messages in
// progress.
type session[T any] struct {
	src   *Source[T]
	sc    *flow.Scope
	guard *flow.Guard[natsjs.Msg]
	held  held
	hand  *handoff

	runCtx     context.Context // the run's, set by fetch before a message arrives
	maxDeliver int             // the consumer's MaxDeliver; <= 0 for no limit; set before Consume
	every      atomic.Int64    // keep-alive interval, once the consumer is bound
	tally      tally           // what became of the messages

	// stopped is set, and stop closed, once the source stops pulling: the
	// handler then keeps what arrives to give back once the pull is over.
	stopped  atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once

	// maybeEmpty (UntilEmpty) says that the consumer may have nothing
	// left: no message came yet, or the last one said none was pending.
	// The handler sets it and signals emptyCheck; fetch then asks.
	maybeEmpty  atomic.Bool
	emptyCheck  chan struct{}
	settledSeen uint64                  // fetch's: messages settled at its last check
	settledAt   time.Time               // when that count last changed
	pulls       []natsjs.ConsumeContext // fetch's: the run's Consumes, drained

	genDone  atomic.Bool
	idle     chan struct{} // closed once the generator returned and nothing is held
	idleOnce sync.Once

	mu        sync.Mutex
	stopFetch func()     // stops fetch's pulling; nil until fetch starts
	fetchDone bool       // the hand-off is closed and the pull over
	back      []*receipt // held, to give back once the pull is over
	failed    []*receipt // of failed items, to give back once the pull is over
}

func newSession[T any](s *Source[T], sc *flow.Scope, g *flow.Guard[natsjs.Msg]) *session[T] {
	ss := &session[T]{src: s, sc: sc, guard: g, hand: newHandoff(s.cfg.batch),
		stop: make(chan struct{}), emptyCheck: make(chan struct{}, 1), idle: make(chan struct{})}
	ss.held.owner, ss.held.tally = ss, &ss.tally
	ss.maybeEmpty.Store(true)
	return ss
}

// generate emits the items of the messages the handler hands over, a
// batch at a time, until fetch stops (a drain, UntilEmpty, or a hard
// stop), the generator's context is done, or yield says the run stops. It
// never waits for fetch: a failure downstream makes yield say false, and
// the run's context is cancelled, which stops fetch, only once the
// generator has returned. What is left in the hand-off is given back by
// whichever of the two ends last.
func (ss *session[T]) generate(ctx context.Context, yield func(T, source.Receipt) bool) error {
	defer ss.generated()
	decode := func(_ context.Context, m natsjs.Msg) (T, error) { return ss.src.decode(m) }
	var n int64 // messages decoded so far, for labels
	var batch []*receipt
	for {
		if batch = ss.hand.take(ctx, batch); batch == nil {
			return nil
		}
		for i, r := range batch {
			v, ok, err := flow.Call(ctx, ss.guard, n, r.msg, flow.WithReceipt(r), decode)
			n++
			if !ok {
				// The decoder failed: the message counts as emitted, and is
				// settled as the policy says (or abandoned if the run stops).
				ss.sc.Run.Counts.In.Add(1)
				if err != nil {
					ss.hand.putBack(batch[i+1:])
					return err
				}
				continue
			}
			if !yield(v, r) {
				ss.hand.putBack(batch[i+1:])
				return nil
			}
		}
	}
}

// generated records that the generator has returned, which stops fetch,
// and gives back what the hand-off holds if fetch has stopped already.
func (ss *session[T]) generated() {
	ss.mu.Lock()
	ss.genDone.Store(true)
	if ss.stopFetch != nil {
		ss.stopFetch()
	}
	last := ss.fetchDone
	ss.mu.Unlock()
	if ss.held.n.Load() == 0 {
		ss.closeIdle()
	}
	if last {
		ss.giveBackAll(ss.hand.empty())
	}
}

// onGenerated calls stop when the generator returns, or now if it has.
func (ss *session[T]) onGenerated(stop func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.genDone.Load() {
		stop()
		return
	}
	ss.stopFetch = stop
}

// fetched closes the hand-off, once the pull is over, and gives back what
// arrived after the stop, the messages of failed items, and what the
// hand-off holds if the generator has returned already.
func (ss *session[T]) fetched() {
	ss.hand.close()
	ss.mu.Lock()
	ss.fetchDone = true
	last := ss.genDone.Load()
	back, failed := ss.back, ss.failed
	ss.back, ss.failed = nil, nil
	ss.mu.Unlock()
	ss.giveBackAll(back)
	for _, r := range failed {
		r.giveBack() // taken by Settle
	}
	if last {
		ss.giveBackAll(ss.hand.empty())
	}
}

// sendAgain sends an acknowledgement again while it fails because the
// connection is down (which fails a publish at once only when the
// connection's reconnect buffer is full or disabled: else the client keeps
// it, to send it once reconnected), until the outage has lasted MaxOutage,
// or the run stops. An acknowledgement that is not sent leaves its message
// to come back after the consumer's AckWait.
func (ss *session[T]) sendAgain(err error, send func() error) error {
	if !natsretry.Transient(err) {
		return err
	}
	return ss.retry(ss.runCtx, func(context.Context) error { return send() })
}

// giveBackLater keeps the message of a failed item, which stops the run,
// until fetch has stopped pulling.
func (ss *session[T]) giveBackLater(r *receipt) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.fetchDone {
		return false
	}
	ss.failed = append(ss.failed, r)
	return true
}

// keepBack keeps r, held, to give back once the pull is over: it arrived
// after the source stopped. After that, it gives it back at once.
func (ss *session[T]) keepBack(r *receipt) {
	ss.mu.Lock()
	if !ss.fetchDone {
		ss.back = append(ss.back, r)
		ss.mu.Unlock()
		return
	}
	ss.mu.Unlock()
	if r.take() {
		r.giveBack()
	}
}

// giveBackAll gives back the messages of rs, held.
func (ss *session[T]) giveBackAll(rs []*receipt) {
	for _, r := range rs {
		if r.take() {
			r.giveBack()
		}
	}
}

// released forgets r, whose message has been settled.
func (ss *session[T]) released(r *receipt) {
	if !ss.held.release(r) {
		return
	}
	if ss.genDone.Load() {
		ss.closeIdle()
	}
	if ss.src.cfg.untilEmpty {
		signal(ss.emptyCheck) // nothing held: the consumer may be empty now
	}
}

func (ss *session[T]) closeIdle() { ss.idleOnce.Do(func() { close(ss.idle) }) }

// keepAlive reports the held messages in progress, so that the server does
// not deliver them to another worker while this one still works on them,
// until the run stops or nothing is held any more after the generator
// returned.
func (ss *session[T]) keepAlive(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond) // until the consumer is bound
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ss.idle:
			return nil
		case <-t.C:
		}
		every := time.Duration(ss.every.Load())
		if every == 0 {
			continue
		}
		t.Reset(every)
		before := time.Now().Add(-every).UnixNano()
		ss.held.each(func(r *receipt) {
			if r.since < before {
				_ = r.msg.InProgress() // fails only if the item has just settled, or the connection is gone
			}
		})
	}
}

// flushTimeout bounds the wait for the server to confirm that it got the
// run's last acknowledgements.
const flushTimeout = 500 * time.Millisecond

var errNotConnected = errors.New("not connected")

// end gives back what the run still held when it stopped, so that another
// worker gets it at once, flushes the acknowledgements to the server, and
// logs what became of the run's messages.
func (ss *session[T]) end(error) {
	var left []*receipt
	ss.held.each(func(r *receipt) {
		if r.take() {
			left = append(left, r)
		}
	})
	for _, r := range left {
		r.giveBack()
		ss.tally.abandoned.Add(1)
	}
	// A flush waits for the server's answer: not while the connection is
	// down (what it holds is sent on reconnection, if the caller keeps the
	// connection open), and not for long, so that Run returns soon after a
	// stop.
	nc := ss.src.js.Conn()
	err := errNotConnected
	if nc.IsConnected() {
		err = nc.FlushTimeout(flushTimeout)
	}
	if err != nil {
		ss.sc.Logger.Warn("flushing acknowledgements to the NATS server: "+err.Error()+"; the server will deliver the unacknowledged messages again after AckWait", zap.Error(err))
	}
	ss.tally.log(ss.sc.Logger)
}
