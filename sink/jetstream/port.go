package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
)

// port is the sink's entrance in one run: it publishes each item and hands
// the publish to confirm, through inflight, whose capacity bounds the
// publishes awaiting confirmation.
type port[T any] struct {
	s         *Sink[T]
	g         *flow.Guard[T]
	fatal     *flow.Guard[T] // fails fast, whatever the policy: an outage past MaxOutage
	done      *flow.Tally    // used by confirm only
	n         int64
	inflight  chan publish[T]
	confirmed chan struct{} // closed when confirm has seen every publish
}

// publish is an item whose publish awaits the server's confirmation.
type publish[T any] struct {
	v        T
	t        flow.Tag
	idx      int64
	msg      *nats.Msg
	ack      natsjs.PubAckFuture // nil once published again, synchronously
	deadline time.Time           // AckTimeout after the publish
}

func (p *port[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	idx := p.n
	p.n++
	m, ok, err := flow.Call(ctx, p.g, idx, v, t, p.message)
	if !ok {
		return err
	}
	pub := publish[T]{v: v, t: t, idx: idx, msg: m}
	if pub.ack, err = p.s.js.PublishMsgAsync(m); err != nil {
		if ok, err := p.failed(ctx, pub, err); !ok {
			return err
		}
	}
	pub.deadline = time.Now().Add(p.s.timeout)
	select {
	case p.inflight <- pub:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close waits until the server has confirmed every publish.
func (p *port[T]) Close(ctx context.Context) error {
	close(p.inflight)
	select {
	case <-p.confirmed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *port[T]) message(_ context.Context, v T) (*nats.Msg, error) { return p.s.message(v) }

// publishSync publishes v again and waits for the confirmation: the retry
// of a publish that failed, under a Retry policy.
func (p *port[T]) publishSync(ctx context.Context, v T) (struct{}, error) {
	m, err := p.s.message(v)
	if err != nil {
		return struct{}{}, err
	}
	if err := p.republish(ctx, m); err != nil {
		return struct{}{}, fmt.Errorf("publishing to %q: %w", m.Subject, err)
	}
	return struct{}{}, nil
}

// republish publishes m again, synchronously, riding through an outage: it
// publishes each time once the connection is up, until the server
// confirms, fails for another reason than an outage, or MaxOutage has
// passed (a *natsretry.OutageError).
func (p *port[T]) republish(ctx context.Context, m *nats.Msg) error {
	nc := p.s.js.Conn()
	return natsretry.Retry(ctx, p.s.maxOutage, func(bounded context.Context) error {
		if err := natsretry.Connected(nc); err != nil {
			return err
		}
		reconnects := nc.Stats().Reconnects
		// Not past the connection's loss (natsretry.Request): the answer
		// to a publish lost with the connection would never come. Nor,
		// within AckTimeout, past MaxOutage: a slow answer is the
		// publish's failure, not the outage's.
		err := natsretry.Request(ctx, nc, p.s.timeout, func(pctx context.Context) error {
			// nats.go would try a "no responders" again itself, twice
			// 250ms apart: the sink tells an outage from a subject no
			// stream captures itself (outage), and tries again only the
			// former.
			_, err := p.s.js.PublishMsg(pctx, m, natsjs.WithRetryAttempts(0))
			return err
		})
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !errors.Is(err, nats.ErrDisconnected) {
			// No answer in time: an outage's if the connection went down
			// meanwhile, else the publish's failure.
			err = errNotConfirmed
			if !nc.IsConnected() || nc.Stats().Reconnects != reconnects {
				err = fmt.Errorf("%w: %w", nats.ErrDisconnected, err)
			}
		}
		return p.outage(bounded, m.Subject, err)
	})
}

// failed handles a publish of pub that failed with err, and reports
// whether pub is now stored; if not, err is the run's error, or nil if the
// policy settled the item. An outage's error (the connection down, the
// server restarting) is not the item's: the sink publishes it again once
// the connection is back, until MaxOutage has passed, when the run fails
// whatever the policy, as every item after would. Other errors go to the
// error policy, whose retries publish again the same way.
func (p *port[T]) failed(ctx context.Context, pub publish[T], err error) (bool, error) {
	if err = p.outage(ctx, pub.msg.Subject, err); natsretry.Transient(err) {
		if err = p.republish(ctx, pub.msg); err == nil {
			return true, nil
		}
		var oe *natsretry.OutageError
		if errors.As(err, &oe) {
			_, _, err = flow.Recover(ctx, p.fatal, pub.idx, pub.v, pub.t, fmt.Errorf("publishing to %q: %w", pub.msg.Subject, err), p.publishSync)
			return false, err
		}
	}
	_, ok, err := flow.Recover(ctx, p.g, pub.idx, pub.v, pub.t, fmt.Errorf("publishing to %q: %w", pub.msg.Subject, err), p.publishSync)
	return ok, err
}

// outage returns err as an outage's error (natsretry.Transient) or not. A
// publish left unconfirmed while the connection is down is an outage's. A
// "no responders" is not when no stream captures subject: it is marked
// permanent. Right after a restart, the server answers so too until
// JetStream is up; then the stream lookup fails the same way, and err
// stays transient.
func (p *port[T]) outage(ctx context.Context, subject string, err error) error {
	unconfirmed := errors.Is(err, errNotConfirmed) || errors.Is(err, natsjs.ErrAsyncPublishTimeout)
	if unconfirmed && !p.s.js.Conn().IsConnected() {
		// Published while the connection was down, and not sent yet.
		return fmt.Errorf("%w: %w", nats.ErrDisconnected, err)
	}
	if !errors.Is(err, natsjs.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
		return err
	}
	lerr := natsretry.Request(ctx, p.s.js.Conn(), natsretry.ProbeTimeout, func(ctx context.Context) error {
		_, err := p.s.js.StreamNameBySubject(ctx, subject)
		return err
	})
	if errors.Is(lerr, natsjs.ErrStreamNotFound) {
		return natsretry.Permanent(err)
	}
	return err
}

// confirm awaits the confirmation of each publish in turn. A confirmed item
// is done; one that is not is published again if an outage is to blame
// (see failed), else goes through the error policy, whose retry publishes
// it again and waits.
func (p *port[T]) confirm(ctx context.Context) error {
	timer := time.NewTimer(p.s.timeout)
	defer timer.Stop()
	poll := time.NewTicker(outagePoll)
	defer poll.Stop()
	for {
		var pub publish[T]
		var more bool
		select {
		case pub, more = <-p.inflight:
		case <-ctx.Done(): // the run failed or stopped: Close will not come
			p.settleConfirmed()
			return ctx.Err()
		}
		if !more {
			break
		}
		err := p.await(ctx, pub, timer, poll)
		if ctx.Err() != nil {
			p.settleIfConfirmed(pub)
			p.settleConfirmed()
			return ctx.Err()
		}
		if err != nil {
			if ok, err := p.failed(ctx, pub, err); !ok {
				if err != nil {
					return err
				}
				continue
			}
		}
		p.done.Settle(pub.t)
	}
	close(p.confirmed)
	return nil
}

// settleConfirmed settles, once the run has stopped, the items whose
// publish the server has confirmed already, so that their sources do not
// deliver them again; the others are abandoned.
func (p *port[T]) settleConfirmed() {
	for {
		select {
		case pub, more := <-p.inflight:
			if !more {
				return
			}
			p.settleIfConfirmed(pub)
		default:
			return
		}
	}
}

func (p *port[T]) settleIfConfirmed(pub publish[T]) {
	if pub.ack == nil {
		p.done.Settle(pub.t)
		return
	}
	select {
	case <-pub.ack.Ok():
		p.done.Settle(pub.t)
	default:
	}
}

// outagePoll is how often a wait for a confirmation looks whether the
// connection is down.
const outagePoll = 50 * time.Millisecond

// await waits for the server's answer to pub until its deadline. An answer
// that has come wins over a deadline that has passed: the confirmation of
// a publish sent with a slow one may be read after both.
func (p *port[T]) await(ctx context.Context, pub publish[T], timer *time.Timer, poll *time.Ticker) error {
	if ok, err := answered(pub); ok {
		return err
	}
	timer.Reset(time.Until(pub.deadline))
	for {
		select {
		case <-pub.ack.Ok():
			return nil
		case err := <-pub.ack.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			if ok, err := answered(pub); ok {
				return err
			}
			return errNotConfirmed
		case <-poll.C:
			// nats.go keeps what is published while the connection is
			// down in its reconnect buffer, and its confirmation waits
			// for the server's return however long the outage: the
			// sink takes it as unconfirmed, and rides through the outage
			// within MaxOutage (see failed).
			if !p.s.js.Conn().IsConnected() {
				return errNotConfirmed
			}
		}
	}
}

// answered reports whether the server has answered pub, and its answer:
// nil for a confirmation.
func answered[T any](pub publish[T]) (ok bool, err error) {
	if pub.ack == nil {
		return true, nil
	}
	select {
	case <-pub.ack.Ok():
		return true, nil
	case err := <-pub.ack.Err():
		return true, err
	default:
		return false, nil
	}
}
