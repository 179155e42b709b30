package jetstream

import (
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/source"
)

// receipt is the source.Receipt of one message: it acknowledges the
// message as its item's outcome says.
type receipt struct {
	msg   natsjs.Msg
	n     int  // deliveries so far, this one included
	last  bool // the consumer will not deliver it again
	since time.Time
	owner owner
	tally *tally
}

// owner is the session that holds a receipt's message.
type owner interface {
	// release forgets r, whose item has settled.
	release(r *receipt)
	// giveBackLater keeps r to give back once no pull is open, and
	// reports whether it did.
	giveBackLater(r *receipt) bool
	// sendAgain sends an acknowledgement that failed with err again, while
	// the connection is down, until the outage bound or the run's stop.
	sendAgain(err error, send func() error) error
}

func (r *receipt) Delivery() (int, bool) { return r.n, r.last }

func (r *receipt) Settle(o source.Outcome, after time.Duration) {
	var err error
	switch o {
	case source.Done, source.Dropped:
		if err = r.msg.Ack(); err != nil {
			err = r.owner.sendAgain(err, r.msg.Ack)
		}
	case source.Skipped, source.DeadLettered:
		reason := outcomeReason[o]
		if err = r.msg.TermWithReason(reason); err != nil {
			err = r.owner.sendAgain(err, func() error { return r.msg.TermWithReason(reason) })
		}
	case source.Requeued:
		if err = r.msg.NakWithDelay(after); err != nil {
			err = r.owner.sendAgain(err, func() error { return r.msg.NakWithDelay(after) })
		}
	default: // Failed: the run stops
		// Given back now, the message would go at once to the pull this
		// run has open, to be given back again: fetch gives it back once
		// it has stopped pulling, which the run's stop makes it do.
		if r.owner.giveBackLater(r) {
			return
		}
		err = r.msg.Nak()
	}
	r.tally.add(o, err)
	r.owner.release(r)
}

// giveBack hands the message back to the server, which delivers it again
// at once (Nak). Call it only when no pull of the run is open, or r's
// message would come back to it.
func (r *receipt) giveBack() {
	r.tally.add(source.Failed, r.msg.Nak())
	r.owner.release(r)
}

var outcomeReason = map[source.Outcome]string{source.Skipped: "skipped", source.DeadLettered: "dead-lettered"}

// tally counts what became of a run's messages, for its closing log line.
type tally struct {
	acked, termed, naked, redelivered, abandoned, failedAcks atomic.Int64
}

func (t *tally) add(o source.Outcome, err error) {
	switch {
	case err != nil:
		t.failedAcks.Add(1)
	case o == source.Done || o == source.Dropped:
		t.acked.Add(1)
	case o == source.Skipped || o == source.DeadLettered:
		t.termed.Add(1)
	default:
		t.naked.Add(1)
	}
}

func (t *tally) log(l *zap.Logger) {
	l.Info("messages settled",
		zap.Int64("acked", t.acked.Load()), zap.Int64("terminated", t.termed.Load()),
		zap.Int64("given_back", t.naked.Load()), zap.Int64("redeliveries_received", t.redelivered.Load()),
		zap.Int64("held_at_stop", t.abandoned.Load()), zap.Int64("acks_not_sent", t.failedAcks.Load()))
}
