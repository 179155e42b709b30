package jetstream

import (
	"context"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// port is the sink's entrance in one run: it publishes each item and hands
// the publish to confirm, through inflight, whose capacity bounds the
// publishes awaiting confirmation.
type port[T any] struct {
	s         *Sink[T]
	g         *flow.Guard[T]
	done      *flow.Tally // used by confirm only
	n         int64
	inflight  chan publish[T]
	confirmed chan struct{} // closed when confirm has seen every publish
}

// publish is an item whose publish awaits the server's confirmation.
type publish[T any] struct {
	v        T
	t        flow.Tag
	idx      int64
	ack      natsjs.PubAckFuture
	deadline time.Time // AckTimeout after the publish
}

func (p *port[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	idx := p.n
	p.n++
	ack, ok, err := flow.Call(ctx, p.g, idx, v, t, p.publishAsync)
	if !ok {
		return err
	}
	select {
	case p.inflight <- publish[T]{v: v, t: t, idx: idx, ack: ack, deadline: time.Now().Add(p.s.timeout)}:
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

func (p *port[T]) publishAsync(_ context.Context, v T) (natsjs.PubAckFuture, error) {
	m, err := p.s.message(v)
	if err != nil {
		return nil, err
	}
	return p.s.js.PublishMsgAsync(m)
}

// publishSync publishes v again and waits for the confirmation: the retry
// of a publish that was not confirmed.
func (p *port[T]) publishSync(ctx context.Context, v T) (struct{}, error) {
	m, err := p.s.message(v)
	if err != nil {
		return struct{}{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.s.timeout)
	defer cancel()
	_, err = p.s.js.PublishMsg(ctx, m)
	return struct{}{}, err
}

// confirm awaits the confirmation of each publish in turn. A confirmed item
// is done; one that is not goes through the error policy, whose retry
// publishes it again and waits.
func (p *port[T]) confirm(ctx context.Context) error {
	timer := time.NewTimer(p.s.timeout)
	defer timer.Stop()
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
		err := p.await(ctx, pub, timer)
		if ctx.Err() != nil {
			p.settleIfConfirmed(pub)
			p.settleConfirmed()
			return ctx.Err()
		}
		if err != nil {
			err = fmt.Errorf("publishing to %q: %w", pub.ack.Msg().Subject, err)
			_, ok, err := flow.Recover(ctx, p.g, pub.idx, pub.v, pub.t, err, p.publishSync)
			if !ok {
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
	select {
	case <-pub.ack.Ok():
		p.done.Settle(pub.t)
	default:
	}
}

// await waits for the server's answer to pub until its deadline. An answer
// that has come wins over a deadline that has passed: the confirmation of
// a publish sent with a slow one may be read after both.
func (p *port[T]) await(ctx context.Context, pub publish[T], timer *time.Timer) error {
	if ok, err := answered(pub); ok {
		return err
	}
	timer.Reset(time.Until(pub.deadline))
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
	}
}

// answered reports whether the server has answered pub, and its answer:
// nil for a confirmation.
func answered[T any](pub publish[T]) (ok bool, err error) {
	select {
	case <-pub.ack.Ok():
		return true, nil
	case err := <-pub.ack.Err():
		return true, err
	default:
		return false, nil
	}
}
