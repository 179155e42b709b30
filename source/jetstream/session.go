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
// Three goroutines share it: fetch pulls messages and hands them to the
// generator (generate) through arrived; keepAlive reports the held
// messages in progress. A message is held from the moment it arrives, so
// that a message waiting in arrived is kept from redelivery as much as one
// in a stage.
type session[T any] struct {
	src   *Source[T]
	sc    *flow.Scope
	guard *flow.Guard[natsjs.Msg]

	arrived    chan *receipt   // from fetch to generate; closed when fetch stops
	runCtx     context.Context // the run's, set by fetch before a message arrives
	maxDeliver int             // the consumer's MaxDeliver; <= 0 for no limit
	every      atomic.Int64    // keep-alive interval, once the consumer is bound
	tally      tally           // what became of the messages
	idle       chan struct{}   // closed once the generator returned and nothing is held

	mu        sync.Mutex
	held      map[*receipt]struct{}
	genDone   bool       // the generator has returned
	stopFetch func()     // stops fetch's pulling; nil until fetch starts
	fetchDone bool       // arrived is closed
	failed    []*receipt // of failed items, to give back once fetch is done
	closed    bool       // idle is closed
}

// generate emits the items of the messages fetch hands over, until fetch
// stops (a drain, UntilEmpty, or a hard stop), the generator's context is
// done, or yield says the run stops. It never waits for fetch: a failure
// downstream makes yield say false, and the run's context is cancelled,
// which stops fetch, only once the generator has returned. What is left
// in arrived is given back by whichever of the two ends last.
func (ss *session[T]) generate(ctx context.Context, yield func(T, source.Receipt) bool) error {
	defer ss.generated()
	decode := func(_ context.Context, m natsjs.Msg) (T, error) { return ss.src.decode(m) }
	var n int64 // messages decoded so far, for labels
	for {
		var r *receipt
		var ok bool
		select {
		case r, ok = <-ss.arrived:
		case <-ctx.Done():
		}
		if !ok {
			return nil
		}
		v, ok, err := flow.Call(ctx, ss.guard, n, r.msg, flow.WithReceipt(r), decode)
		n++
		if !ok {
			// The decoder failed: the message counts as emitted, and is
			// settled as the policy says (or abandoned if the run stops).
			ss.sc.Run.Counts.In.Add(1)
			if err != nil {
				return err
			}
			continue
		}
		if !yield(v, r) {
			return nil
		}
	}
}

// generated records that the generator has returned, which stops fetch,
// and gives back what arrived holds if fetch has stopped already.
func (ss *session[T]) generated() {
	ss.mu.Lock()
	ss.genDone = true
	if ss.stopFetch != nil {
		ss.stopFetch()
	}
	last := ss.fetchDone
	ss.idleLocked()
	ss.mu.Unlock()
	if last {
		ss.giveBackArrived()
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

// onGenerated calls stop when the generator returns, or now if it has.
func (ss *session[T]) onGenerated(stop func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.genDone {
		stop()
		return
	}
	ss.stopFetch = stop
}

// fetched closes arrived, gives back the messages of failed items, and
// what arrived holds if the generator has returned already.
func (ss *session[T]) fetched() {
	close(ss.arrived)
	ss.mu.Lock()
	ss.fetchDone = true
	last := ss.genDone
	failed := ss.failed
	ss.failed = nil
	ss.mu.Unlock()
	for _, r := range failed {
		r.giveBack()
	}
	if last {
		ss.giveBackArrived()
	}
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

// giveBackArrived gives back each message left in arrived, once both its
// ends have stopped.
func (ss *session[T]) giveBackArrived() {
	for r := range ss.arrived {
		r.giveBack()
	}
}

// hold records m as held until its item settles.
func (ss *session[T]) hold(m natsjs.Msg) *receipt {
	r := &receipt{msg: m, n: 1, owner: ss, tally: &ss.tally, since: time.Now()}
	if md, err := m.Metadata(); err == nil {
		r.n = int(md.NumDelivered)
		r.last = ss.maxDeliver > 0 && r.n >= ss.maxDeliver
		if r.n > 1 {
			ss.tally.redelivered.Add(1)
		}
	}
	ss.mu.Lock()
	ss.held[r] = struct{}{}
	ss.mu.Unlock()
	return r
}

// release forgets r, whose item has settled.
func (ss *session[T]) release(r *receipt) {
	ss.mu.Lock()
	delete(ss.held, r)
	ss.idleLocked()
	ss.mu.Unlock()
}

func (ss *session[T]) idleLocked() {
	if ss.genDone && len(ss.held) == 0 && !ss.closed {
		ss.closed = true
		close(ss.idle)
	}
}

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
		for _, r := range ss.heldSince(time.Now().Add(-every)) {
			_ = r.msg.InProgress() // fails only if the item has just settled, or the connection is gone
		}
	}
}

// heldSince returns the messages held since before t.
func (ss *session[T]) heldSince(t time.Time) []*receipt {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var rs []*receipt
	for r := range ss.held {
		if r.since.Before(t) {
			rs = append(rs, r)
		}
	}
	return rs
}

// flushTimeout bounds the wait for the server to confirm that it got the
// run's last acknowledgements.
const flushTimeout = 500 * time.Millisecond

var errNotConnected = errors.New("not connected")

// end gives back what the run still held when it stopped, so that another
// worker gets it at once, flushes the acknowledgements to the server, and
// logs what became of the run's messages.
func (ss *session[T]) end(error) {
	ss.mu.Lock()
	held := make([]*receipt, 0, len(ss.held))
	for r := range ss.held {
		held = append(held, r)
	}
	ss.mu.Unlock()
	for _, r := range held {
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
