package flow

import "time"

// Receipt is attached by a source to an item that it must be told the fate
// of: a message queue that redelivers what is not acknowledged (NATS
// JetStream). The run settles it once, when the item and everything made
// from it have left the pipeline: a batch settles with its last member's
// fate decided, a FlatMap parent when all its children are done, a dropped
// item when the Filter drops it, and an item the sink took once the sink
// has written it.
type Receipt interface {
	// Delivery says how many times the source has delivered the item, this
	// time included (1 the first time), and whether this is the last time:
	// the source will not deliver it again if it is requeued.
	Delivery() (n int, last bool)
	// Settle tells the source the item's outcome. It is called once, from
	// the goroutine that settled the item. For Requeued, after is how long
	// the source should wait before it delivers the item again.
	Settle(o Outcome, after time.Duration)
}

// ReceiptGroup is the group of an item fresh from a source, waiting to
// tell its receipt how it left the pipeline. A source that pools its
// receipts embeds one in each, so that WithReceipt costs no allocation:
// the tag then points into the receipt. A receipt with a ReceiptGroup must
// not be reused before it has been settled (or abandoned by the run's
// end).
type ReceiptGroup struct {
	g  group
	gs [1]*group
}

func (rg *ReceiptGroup) receiptGroup() *ReceiptGroup { return rg }

// groupCarrier is a Receipt that embeds its ReceiptGroup.
type groupCarrier interface{ receiptGroup() *ReceiptGroup }

// WithReceipt returns the tag of an item fresh from the source (as One)
// whose receipt is r. For a receipt that embeds a ReceiptGroup it
// allocates nothing, and it returns the same tag however often it is
// called before the item enters the pipeline: the group is made fresh
// each time, so call it only before.
func WithReceipt(r Receipt) Tag {
	var rg *ReceiptGroup
	if c, ok := r.(groupCarrier); ok {
		rg = c.receiptGroup()
		rg.g = group{} // a pooled receipt's earlier item left its marks
	} else {
		rg = &ReceiptGroup{}
	}
	rg.g.parent, rg.g.receipt = One(), r
	rg.g.pending.Store(1)
	rg.gs[0] = &rg.g
	return Tag{gs: rg.gs[:]}
}

// Delivery returns the most deliveries of the source items t stands for,
// and whether one of them is on its last delivery. ok is false unless every
// one of them carries a receipt: an item that no source would deliver again
// must not be requeued.
func (t Tag) Delivery() (n int, last, ok bool) {
	if t.n > 0 || len(t.gs) == 0 {
		return 0, false, false
	}
	for _, g := range t.gs {
		gn, gl, gok := 0, false, true
		if g.receipt != nil {
			gn, gl = g.receipt.Delivery()
		} else {
			gn, gl, gok = g.parent.Delivery()
		}
		if !gok {
			return 0, false, false
		}
		n, last = max(n, gn), last || gl
	}
	return n, last, true
}

// Requeue settles t as Requeued: its receipts tell their sources to deliver
// the items again after the delay.
func (r *Run) Requeue(t Tag, after time.Duration) { r.settle(t, Requeued, after, nil) }
