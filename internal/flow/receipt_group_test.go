package flow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
)

// pooled is a receipt that carries its own group, as a source that pools
// its receipts makes them.
type pooled struct {
	ReceiptGroup
	settled []Outcome
}

func (p *pooled) Delivery() (int, bool)             { return 1, false }
func (p *pooled) Settle(o Outcome, _ time.Duration) { p.settled = append(p.settled, o) }

func TestWithReceiptCostsNoAllocationForAReceiptThatCarriesItsGroup(t *testing.T) {
	p := &pooled{settled: make([]Outcome, 0, 1)}
	allocs := testing.AllocsPerRun(100, func() { _ = WithReceipt(p) })
	assert.Zero(t, allocs)
}

func TestAPooledReceiptIsSettledOnceForEachItemItCarries(t *testing.T) {
	r := NewRun(zap.NewNop(), Skip())
	p := &pooled{}
	for _, o := range []Outcome{Done, Requeued, Dropped} {
		// Built twice before the item enters the pipeline (the generator,
		// then the source's emit): the same tag, one settle.
		_ = WithReceipt(p)
		tag := WithReceipt(p)
		r.Settle(tag, o)
	}
	assert.Equal(t, []Outcome{Done, Requeued, Dropped}, p.settled, "each use settles once, with its own outcome")
}
