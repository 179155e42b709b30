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
// the publish to confirm through h, which bounds the publishes awaiting
// confirmation. It is used by one goroutine, as every Port.
type port[T any] struct {
	s     *Sink[T]
	g     *flow.Guard[T]
	fatal *flow.Guard[T] // fails fast, whatever the policy: an outage past MaxOutage
	done  *flow.Tally    // used by confirm only
	h     *handoff[T]
	build func(context.Context, T) (*nats.Msg, error) // p.message, made once
	epoch time.Time                                   // deadlines count from it
	n     int64
	// room is how many places h had free when the port last looked: only
	// confirm frees more. run holds the publishes not yet handed to h.
	room      int
	run       []publish[T]
	confirmed chan struct{} // closed when confirm has seen every publish
}

// publish is an item whose publish awaits the server's confirmation.
type publish[T any] struct {
	v        T
	t        flow.Tag
	idx      int64
	msg      *nats.Msg
	ack      natsjs.PubAckFuture // nil once published again, synchronously
	deadline time.Duration       // since epoch: AckTimeout after the publish
}

// flushEvery is how many publishes of a run the port holds at most before
// it hands them to confirm, and reads the clock for their deadlines: a
// clock read costs as much as a few percent of a publish.
const flushEvery = 64

func (p *port[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	err := p.push(ctx, v, t)
	p.flush()
	return err
}

// PushRun publishes the items of the run, and hands their publishes to
// confirm together, flushEvery at most at a time.
func (p *port[T]) PushRun(ctx context.Context, vs []T, ts []flow.Tag) error {
	for i, v := range vs {
		if err := p.push(ctx, v, flow.TagAt(ts, i)); err != nil {
			p.flush()
			return err
		}
	}
	p.flush()
	return nil
}

// push publishes v into run once a place under MaxPending is free, or
// settles it under the error policy.
func (p *port[T]) push(ctx context.Context, v T, t flow.Tag) error {
	if len(p.run) == p.room || len(p.run) == flushEvery {
		p.flush()
		if p.room == 0 {
			room, err := p.h.free(ctx)
			if err != nil {
				return err
			}
			p.room = room
		}
	}
	idx := p.n
	p.n++
	m, ok, err := flow.Call(ctx, p.g, idx, v, t, p.build)
	if !ok {
		return err
	}
	pub := publish[T]{v: v, t: t, idx: idx, msg: m}
	if pub.ack, err = p.s.js.PublishMsgAsync(m); err != nil {
		// failed may republish for as long as MaxOutage: the run's
		// publishes go to confirm first, with their deadlines.
		p.flush()
		if ok, err := p.failed(ctx, pub, err); !ok {
			return err
		}
	}
	p.run = append(p.run, pub)
	return nil
}

// flush hands the run's publishes to confirm, with a deadline read once
// for them all: a run's first publishes get theirs late by the time the
// run took to publish, flushEvery publishes at most (about 0.2 ms in
// BenchmarkPublish, without a slow Encoder).
func (p *port[T]) flush() {
	if len(p.run) == 0 {
		return
	}
	deadline := time.Since(p.epoch) + p.s.timeout
	for i := range p.run {
		p.run[i].deadline = deadline
	}
	p.room = p.h.put(p.run...)
	clear(p.run)
	p.run = p.run[:0]
}

// Close waits until the server has confirmed every publish.
func (p *port[T]) Close(ctx context.Context) error {
	p.h.close()
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
