package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
)

// fetch binds the consumer and consumes it (nats.go's Consume: a pull
// always open, renewed before it runs dry), until the run drains or
// stops, the generator returns, or (UntilEmpty) the consumer has nothing
// left. It rides through a server outage shorter than MaxOutage. It closes
// the hand-off once the pull is over.
func (ss *session[T]) fetch(ctx context.Context) error {
	defer ss.fetched()
	ss.runCtx = ctx
	// A drain, or the generator's return, stops the pulling; so does a
	// hard stop (ctx). What arrives after is given back once the pull is
	// over.
	stopping, stop := context.WithCancel(ctx)
	defer stop()
	ss.sc.Run.OnDrain(stop)
	ss.onGenerated(stop)

	var cons natsjs.Consumer
	err := ss.retry(stopping, func(ctx context.Context) error {
		return ss.request(ctx, func(ctx context.Context) (err error) {
			cons, err = ss.bind(ctx)
			return err
		})
	})
	for done := false; err == nil && !done; {
		done, err = ss.consume(stopping, cons)
	}
	if err != nil && stopping.Err() == nil {
		return ss.fail(err)
	}
	return nil
}

// The pull's settings: a pull request lives MaxWait at the server (1s at
// least: nats.go's floor), with a heartbeat every half of it, 1s at most,
// so that a pull the server lost is made again within 2s.
func pullOptions(c config, onErr func(natsjs.ConsumeContext, error)) []natsjs.PullConsumeOpt {
	expiry := max(c.maxWait, time.Second)
	return []natsjs.PullConsumeOpt{natsjs.PullMaxMessages(c.batch), natsjs.PullExpiry(expiry),
		natsjs.PullHeartbeat(min(expiry/2, time.Second)), natsjs.ConsumeErrHandler(onErr)}
}

// emptyEvery is how often, while the consumer may be empty (UntilEmpty),
// fetch asks the server whether it is; quietEvery how often it looks
// whether messages still come, when the last said more were pending (the
// run's last held message settling makes it look at once): a worker whose
// last messages were delivered while others were pending, and which
// another worker outlasts, ends within about quietEvery + emptyEvery of
// the consumer being empty and settled.
const (
	emptyEvery = 10 * time.Millisecond
	quietEvery = 20 * time.Millisecond
)

// consume runs one Consume until the source stops or the consumer is
// empty (done), a failure, or a pull that no one answered: then, once the
// server answers again, fetch opens a new one, as Consume itself would
// only after a missed heartbeat.
func (ss *session[T]) consume(stopping context.Context, cons natsjs.Consumer) (done bool, err error) {
	nc := ss.src.js.Conn()
	lost := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	defer nc.RemoveStatusListener(lost)
	errs := make(chan error, 8) // this Consume's: an older one's errors are stale
	var c cursor
	cc, err := cons.Consume(func(m natsjs.Msg) { ss.handle(&c, m) }, pullOptions(ss.src.cfg, func(_ natsjs.ConsumeContext, err error) {
		select {
		case errs <- err:
		default:
		}
	})...)
	if err != nil {
		return false, err
	}
	defer func() { ss.endPull(cc, done || err != nil) }()

	// UntilEmpty: no message yet, so the consumer may be empty: ask at
	// once, then every emptyEvery while it may be.
	var check <-chan time.Time
	seen := ss.held.total.Load() - 1 // messages seen at the last look: none yet
	if ss.src.cfg.untilEmpty {
		check = time.After(0)
	}
	for {
		select {
		case <-stopping.Done():
			return true, nil
		case <-lost:
			// Wait for the connection and for JetStream (MaxOutage at
			// most), learning whether the consumer is still there, then
			// pull anew: Consume pulls again as soon as it reconnects, and
			// a pull that reaches JetStream before it is ready is lost,
			// made again only after two missed heartbeats.
			return stopping.Err() != nil, ss.await(stopping, cons)
		case err := <-errs:
			if restart, err := ss.pullFailed(stopping, cons, err); err != nil || restart {
				return stopping.Err() != nil, err
			}
			continue
		case <-ss.emptyCheck:
		case <-check:
		}
		// A message since said more were pending: ask only once none has
		// come for quietEvery. The last message to arrive may not be the
		// last the server sent (a closing Consume's handler may hand over
		// an older one after a newer one's).
		if total := ss.held.total.Load(); !ss.maybeEmpty.Load() && total != seen {
			seen = total
			check = time.After(quietEvery)
			continue
		}
		empty, err := ss.isEmpty(stopping, cons)
		if err != nil || empty {
			return true, err
		}
		if ss.maybeEmpty.Load() {
			check = time.After(emptyEvery)
		} else {
			check = time.After(quietEvery)
		}
	}
}

// handle is Consume's message handler: it holds m the moment it arrives,
// so that keepAlive covers it, and hands it to the generator, waiting
// while the hand-off is full. Once the source has stopped, it keeps m to
// give back when the pull is over.
func (ss *session[T]) handle(c *cursor, m natsjs.Msg) {
	r := ss.held.next(c)
	r.msg, r.n, r.last, r.since = m, 1, false, time.Now().UnixNano()
	delivered, pending, ok := parseReply(m.Reply())
	if !ok {
		if md, err := m.Metadata(); err == nil {
			delivered, pending, ok = md.NumDelivered, md.NumPending, true
		}
	}
	if ok {
		r.n = int(delivered)
		r.last = ss.maxDeliver > 0 && r.n >= ss.maxDeliver
		if r.n > 1 {
			ss.tally.redelivered.Add(1)
		}
	}
	ss.held.hold(r)
	if ss.src.cfg.untilEmpty {
		// The consumer had nothing more to deliver when it sent m: maybe
		// empty, which fetch checks.
		if empty := ok && pending == 0; ss.maybeEmpty.Swap(empty) != empty && empty {
			signal(ss.emptyCheck)
		}
	}
	if ss.stopped.Load() || !ss.hand.put(r, ss.stop) {
		ss.keepBack(r)
	}
}

// markStopped makes the handler keep what arrives from now on, to give
// back once the pull is over, instead of handing it over.
func (ss *session[T]) markStopped() {
	ss.stopOnce.Do(func() {
		ss.stopped.Store(true)
		close(ss.stop)
	})
}

// closeWait bounds the wait for a Consume to close once drained: nats.go
// unsubscribes, waits for the server to confirm (a round trip), and hands
// to the handler what the server had sent. While the connection is down,
// the confirmation does not come: the stop does not wait for it.
const closeWait = 300 * time.Millisecond

// endPull ends cc with Drain: the client unsubscribes, and the server drops
// the pull request that no one listens to any more; what it sent before
// still reaches the handler. When fetch only opens a new pull, that goes
// on to the generator, and cc closes in its own time. When the source
// stops, the handler keeps it to give back, and endPull waits for every
// Consume of the run to close (closeWait at most), so that nothing comes
// back to a pull still open.
func (ss *session[T]) endPull(cc natsjs.ConsumeContext, stop bool) {
	cc.Drain()
	ss.pulls = append(ss.pulls, cc)
	if !stop {
		return
	}
	ss.markStopped()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	for _, cc := range ss.pulls {
		select {
		case <-cc.Closed():
		case <-t.C:
			ss.sc.Logger.Warn("the pull did not close within " + closeWait.String() + " of its stop; what it brings later is given back as it arrives")
			return
		}
	}
}

// await waits for the connection to come back and the server to answer
// about the consumer: for MaxOutage at most, or until stopping is done. A
// consumer or stream that is gone is no outage: its error returns at once.
func (ss *session[T]) await(stopping context.Context, cons natsjs.Consumer) error {
	return ss.retry(stopping, func(ctx context.Context) error {
		return ss.request(ctx, func(ctx context.Context) error {
			_, err := cons.Info(ctx)
			return err
		})
	})
}

// pullFailed acts on an error Consume reports: it returns the error that
// fails the run, or restart when Consume would not pull again before a
// missed heartbeat (a pull answered "no responders" while JetStream
// restarts, or because the consumer is gone: await tells which).
func (ss *session[T]) pullFailed(stopping context.Context, cons natsjs.Consumer, err error) (restart bool, _ error) {
	switch {
	case errors.Is(err, natsjs.ErrConsumerDeleted), errors.Is(err, natsjs.ErrBadRequest), errors.Is(err, nats.ErrConnectionClosed):
		return false, err
	case errors.Is(err, nats.ErrNoResponders):
		return true, ss.await(stopping, cons)
	}
	// A missed heartbeat, a shutdown, a leader change: Consume pulls
	// again by itself.
	ss.sc.Logger.Debug("pull: "+err.Error(), zap.Error(err))
	return false, nil
}

// isEmpty asks the server whether the consumer has nothing left: none
// pending, none delivered and unacknowledged, and no message came
// meanwhile. Messages this run holds count as unacknowledged until the
// server has their acknowledgements (one lost in an outage comes back,
// to this run), except when their items do not settle for stallWait (a
// stage that waits for the source's end, say): then the consumer is empty
// once what is unacknowledged is at most what this run holds.
func (ss *session[T]) isEmpty(stopping context.Context, cons natsjs.Consumer) (bool, error) {
	before := ss.held.total.Load()
	var empty bool
	err := ss.retry(stopping, func(ctx context.Context) error {
		return ss.request(ctx, func(ctx context.Context) error {
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			// Read after the answer: a message this run still holds was
			// unacknowledged when the server answered.
			held := ss.held.n.Load()
			empty = info.NumPending == 0 &&
				(info.NumAckPending == 0 || ss.stalled(held) && int64(info.NumAckPending) <= held)
			return nil
		})
	})
	if stopping.Err() != nil {
		return true, nil
	}
	return empty && err == nil && ss.held.total.Load() == before, err
}

// stallWait is how long the items of held messages must go without
// settling before the end-of-queue check stops waiting for them.
const stallWait = 200 * time.Millisecond

// stalled reports whether held messages are held, and none has settled for
// stallWait. Only fetch calls it.
func (ss *session[T]) stalled(held int64) bool {
	settled := ss.held.total.Load() - uint64(held)
	now := time.Now()
	if settled != ss.settledSeen || held == 0 || ss.settledAt.IsZero() {
		ss.settledSeen, ss.settledAt = settled, now
		return false
	}
	return now.Sub(ss.settledAt) >= stallWait
}

// retry calls f, each time once the connection is up, until it succeeds,
// fails with an error that is not an outage's, ctx is done, or the outage
// has lasted longer than MaxOutage. f's context ends when MaxOutage has
// passed.
func (ss *session[T]) retry(ctx context.Context, f func(context.Context) error) error {
	nc := ss.src.js.Conn()
	return natsretry.Retry(ctx, ss.src.cfg.maxOutage, func(ctx context.Context) error {
		if err := natsretry.Connected(nc); err != nil {
			return err
		}
		return f(ctx)
	})
}

// request makes one request to the server, f, for at most ProbeTimeout
// (less if ctx, retry's, ends sooner), and not past the connection's loss
// (see natsretry.Request): an outage's path must not wait for the answer
// to a request the outage lost. nats.go's own timeout, 5s, would outlast
// a short MaxOutage.
func (ss *session[T]) request(ctx context.Context, f func(context.Context) error) error {
	return natsretry.Request(ctx, ss.src.js.Conn(), natsretry.ProbeTimeout, f)
}

// bind looks the consumer up and checks that it acknowledges explicitly.
func (ss *session[T]) bind(ctx context.Context) (natsjs.Consumer, error) {
	s := ss.src
	cons, err := s.js.Consumer(ctx, s.stream, s.consumer)
	if err != nil {
		return nil, err
	}
	cfg := cons.CachedInfo().Config
	if cfg.AckPolicy != natsjs.AckExplicitPolicy {
		return nil, errNotExplicit
	}
	ss.maxDeliver = cfg.MaxDeliver
	every := s.cfg.keepAlive
	if every == 0 {
		every = max(cfg.AckWait/3, 10*time.Millisecond)
	}
	ss.every.Store(int64(every))
	return cons, nil
}

// fail is the error of the source when its consumer fails, labelled
// "STREAM/consumer".
func (ss *session[T]) fail(err error) error {
	return &flow.Error{Stage: ss.sc.Name, Index: ss.sc.Index, Label: ss.src.stream + "/" + ss.src.consumer, Err: err}
}
