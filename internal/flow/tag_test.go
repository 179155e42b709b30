package flow

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
)

func TestMergeNeverWritesIntoASharedGroupList(t *testing.T) {
	child := func() Tag { return One().Split(2) }
	// Three merges leave spare capacity behind x's group list (len 3, cap 4).
	x := child().Merge(child()).Merge(child())
	d, e := child(), child()
	y := x.Merge(d)
	z := x.Merge(e)
	assert.Same(t, d.gs[0], y.gs[3], "z's merge must not overwrite y's last group")
	assert.Same(t, e.gs[0], z.gs[3])
	assert.Len(t, x.gs, 3)
}

func TestGroupsSettleTheirParentOnceWithTheWorstOutcome(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	a := One().Split(2)
	b := One().Split(2)
	run.Settle(a.Merge(b), Done) // first child of each parent
	assert.Zero(t, run.Counts.Done.Load(), "parents wait for their second child")
	run.Settle(a, Done)
	run.Settle(b, Skipped)
	assert.Equal(t, int64(1), run.Counts.Done.Load())
	assert.Equal(t, int64(1), run.Counts.Skipped.Load(), "the worst of Done and Skipped")
}

func TestSplitOfOneKeepsTheTag(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	batch := One().Merge(One()).Merge(One())
	run.Settle(batch.Split(1), DeadLettered)
	assert.Equal(t, int64(3), run.Counts.DeadLettered.Load())
}

func TestAFailedChildFailsItsParentOnce(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	c := One().Merge(One()).Split(3) // a batch of two, split in three
	run.Settle(c, Failed)
	assert.Equal(t, int64(2), run.Counts.Failed.Load(), "at once, not after the siblings")
	run.Settle(c, Done)
	run.Settle(c, Done)
	assert.Equal(t, int64(2), run.Counts.Failed.Load())
	assert.Zero(t, run.Counts.Done.Load())
}
