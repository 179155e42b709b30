package jetstream

import (
	"context"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
)

// outagePoll is how often a wait for a confirmation looks whether the
// connection is down.
const outagePoll = 50 * time.Millisecond

// releaseEvery is how many settled items confirm gives back their places
// for at most, in a batch whose confirmations have all come: a Push
// waiting for room need not wait for the whole batch.
const releaseEvery = 64

// confirm takes the publishes from the hand-off a batch at a time, and
// settles each in publish order once the server has confirmed it. The
// server answers a connection's publishes in order, so most of a batch is
// answered already: those are settled one after another without a wait;
// only the oldest unanswered one is awaited, until its deadline. A
// confirmed item is done; one that is not is published again if an outage
// is to blame (see failed), else goes through the error policy, whose
// retry publishes it again and waits.
func (p *port[T]) confirm(ctx context.Context) error {
	timer := time.NewTimer(p.s.timeout)
	defer timer.Stop()
	poll := time.NewTicker(outagePoll)
	defer poll.Stop()
	var spare []publish[T]
	for {
		batch, more, err := p.h.take(ctx, spare)
		if err != nil { // the run failed or stopped: Close will not come
			p.settleConfirmed(batch)
			return err
		}
		if !more {
			break
		}
		settled := 0
		for i := range batch {
			pub := &batch[i]
			ok, err := answered(pub.ack)
			if !ok {
				// A wait: first give back the places of the items
				// settled, for Push to publish more meanwhile.
				p.h.release(settled)
				settled = 0
				err = p.await(ctx, pub, timer, poll)
			}
			if err != nil && ctx.Err() != nil {
				// Stopped: what is confirmed is done, the rest abandoned.
				p.settleConfirmed(batch[i:])
				p.settleConfirmed(p.h.drain(nil))
				return ctx.Err()
			}
			if err != nil {
				p.h.release(settled)
				settled = 0
				if ok, err := p.failed(ctx, *pub, err); !ok {
					if err != nil {
						return err
					}
					settled++ // settled by the policy
					continue
				}
			}
			p.done.Settle(pub.t)
			if settled++; settled == releaseEvery {
				p.h.release(settled)
				settled = 0
			}
		}
		p.h.release(settled)
		clear(batch) // the items and messages are the GC's now
		spare = batch
	}
	close(p.confirmed)
	return nil
}

// settleConfirmed settles, once the run has stopped, the items of pubs
// whose publish the server has confirmed already, so that their sources do
// not deliver them again; the others are abandoned.
func (p *port[T]) settleConfirmed(pubs []publish[T]) {
	for i := range pubs {
		if ok, err := answered(pubs[i].ack); ok && err == nil {
			p.done.Settle(pubs[i].t)
		}
	}
}

// await waits for the server's answer to pub until its deadline. An answer
// that has come wins over a deadline that has passed: the confirmation of
// a publish sent with a slow one may be read after both.
func (p *port[T]) await(ctx context.Context, pub *publish[T], timer *time.Timer, poll *time.Ticker) error {
	timer.Reset(pub.deadline - time.Since(p.epoch))
	for {
		select {
		case <-pub.ack.Ok():
			return nil
		case err := <-pub.ack.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			if ok, err := answered(pub.ack); ok {
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

// answered reports whether the server has answered a publish, and its
// answer: nil for a confirmation. ack is nil for a publish confirmed
// already (published again, synchronously). It looks at the confirmation
// first, alone: each of the future's channels costs a lock of the client's
// and, the first time, an allocation, and a confirmed publish needs one.
func answered(ack natsjs.PubAckFuture) (ok bool, err error) {
	if ack == nil {
		return true, nil
	}
	select {
	case <-ack.Ok():
		return true, nil
	default:
	}
	select {
	case err := <-ack.Err():
		return true, err
	default:
		return false, nil
	}
}
