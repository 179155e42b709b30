package jetstream

import (
	"sync/atomic"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/source"
)

// receipt is the source.Receipt of one message: it acknowledges the
// message as its item's outcome says. Receipts live in slabs (see held)
// and are used again once their slab's receipts have all settled; each
// carries its item's group, so that its tag costs no allocation.
type receipt struct {
	flow.ReceiptGroup
	msg   natsjs.Msg
	n     int   // deliveries so far, this one included
	last  bool  // the consumer will not deliver it again
	since int64 // when it arrived, in time.Now().UnixNano()
	state atomic.Int32
	slab  *slab
}

// The states of a receipt: a free one holds no message; a held one's
// message waits for its item to settle; a settling one is being
// acknowledged or given back.
const (
	free int32 = iota
	holding
	settling
)

// owner is the session that holds a receipt's message.
type owner interface {
	// released forgets r, whose message has been acknowledged or given
	// back.
	released(r *receipt)
	// giveBackLater keeps r to give back once no pull is open, and
	// reports whether it did.
	giveBackLater(r *receipt) bool
	// sendAgain sends an acknowledgement that failed with err again, while
	// the connection is down, until the outage bound or the run's stop.
	sendAgain(err error, send func() error) error
}

func (r *receipt) Delivery() (int, bool) { return r.n, r.last }

// take claims r to settle it: false if another path (the run's end) has.
func (r *receipt) take() bool { return r.state.CompareAndSwap(holding, settling) }

func (r *receipt) Settle(o source.Outcome, after time.Duration) {
	if !r.take() {
		return
	}
	var err error
	switch o {
	case source.Done, source.Dropped:
		if err = r.msg.Ack(); err != nil {
			err = r.slab.owner.sendAgain(err, r.msg.Ack)
		}
	case source.Skipped, source.DeadLettered:
		reason := outcomeReason[o]
		if err = r.msg.TermWithReason(reason); err != nil {
			err = r.slab.owner.sendAgain(err, func() error { return r.msg.TermWithReason(reason) })
		}
	case source.Requeued:
		if err = r.msg.NakWithDelay(after); err != nil {
			err = r.slab.owner.sendAgain(err, func() error { return r.msg.NakWithDelay(after) })
		}
	default: // Failed: the run stops
		// Given back now, the message would go at once to the pull this
		// run has open, to be given back again: fetch gives it back once
		// it has stopped pulling, which the run's stop makes it do.
		if r.slab.owner.giveBackLater(r) {
			return
		}
		err = r.msg.Nak()
	}
	r.slab.tally.add(o, err)
	r.slab.owner.released(r)
}

// giveBack hands the message back to the server, which delivers it again
// at once (Nak). Call it only when no pull of the run is open, or r's
// message would come back to it, and only once r is taken (settling).
func (r *receipt) giveBack() {
	r.slab.tally.add(source.Failed, r.msg.Nak())
	r.slab.owner.released(r)
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
