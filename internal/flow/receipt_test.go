package flow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// fakeReceipt records how it was settled.
type fakeReceipt struct {
	n    int
	last bool

	mu      sync.Mutex
	settles []Outcome
	after   time.Duration
}

func (f *fakeReceipt) Delivery() (int, bool) { return f.n, f.last }

func (f *fakeReceipt) Settle(o Outcome, after time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settles = append(f.settles, o)
	f.after = after
}

func (f *fakeReceipt) outcomes() []Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Outcome(nil), f.settles...)
}

func TestABatchSettlesEveryMembersReceipt(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	a, b := &fakeReceipt{n: 1}, &fakeReceipt{n: 1}
	run.Settle(WithReceipt(a).Merge(WithReceipt(b)).Merge(One()), Done)
	assert.Equal(t, []Outcome{Done}, a.outcomes())
	assert.Equal(t, []Outcome{Done}, b.outcomes())
	assert.Equal(t, int64(3), run.Counts.Done.Load())
}

func TestAReceiptWaitsForAllChildrenAndTakesTheWorst(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	r := &fakeReceipt{n: 1}
	c := WithReceipt(r).Split(3)
	run.Settle(c, Done)
	run.Settle(c, Dropped)
	assert.Empty(t, r.outcomes(), "one child is still in the pipeline")
	run.Requeue(c, time.Second)
	assert.Equal(t, []Outcome{Requeued}, r.outcomes())
	assert.Equal(t, time.Second, r.after)
	assert.Equal(t, int64(1), run.Counts.Requeued.Load())
	assert.Equal(t, int64(1), run.Counts.Settled())
}

func TestARequeuedReceiptWaitsTheLongestDelayOfItsChildren(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	r := &fakeReceipt{n: 1}
	c := WithReceipt(r).Split(2)
	run.Requeue(c, 3*time.Second)
	run.Requeue(c, time.Second)
	assert.Equal(t, []Outcome{Requeued}, r.outcomes())
	assert.Equal(t, 3*time.Second, r.after)
}

func TestAFailedChildSettlesTheReceiptAtOnce(t *testing.T) {
	run := NewRun(zap.NewNop(), FailFast())
	r := &fakeReceipt{n: 1}
	c := WithReceipt(r).Split(2)
	run.Settle(c, Failed)
	assert.Equal(t, []Outcome{Failed}, r.outcomes())
	run.Settle(c, Done)
	assert.Equal(t, []Outcome{Failed}, r.outcomes(), "settled once")
}

func TestDeliveryIsTheMostOfTheReceiptsBehindATag(t *testing.T) {
	_, _, ok := One().Merge(One().Split(2)).Delivery()
	assert.False(t, ok, "no receipt")

	a, b := &fakeReceipt{n: 1}, &fakeReceipt{n: 4}
	n, last, ok := WithReceipt(a).Merge(WithReceipt(b).Split(2)).Split(3).Delivery()
	assert.True(t, ok)
	assert.Equal(t, 4, n, "through a split, a merge and a split again")
	assert.False(t, last)

	c := &fakeReceipt{n: 2, last: true}
	_, last, _ = WithReceipt(a).Merge(WithReceipt(c)).Delivery()
	assert.True(t, last)

	_, _, ok = WithReceipt(a).Merge(One()).Delivery()
	assert.False(t, ok, "a plain item in the batch: no source would deliver it again")
	_, _, ok = WithReceipt(a).Merge(One().Split(2)).Delivery()
	assert.False(t, ok, "a child of a plain item")
}

func TestRetryRequeuesAnItemWithAReceipt(t *testing.T) {
	fail := errors.New("boom")
	calls := 0
	f := func(context.Context, int) (int, error) { calls++; return 0, fail }
	cases := []struct {
		name     string
		r        *fakeReceipt
		err      error
		want     Outcome
		requeued bool
	}{
		{"first delivery", &fakeReceipt{n: 1}, fail, Requeued, true},
		{"second of three", &fakeReceipt{n: 2}, fail, Requeued, true},
		{"third of three", &fakeReceipt{n: 3}, fail, DeadLettered, false},
		{"the source's last", &fakeReceipt{n: 1, last: true}, fail, DeadLettered, false},
		{"permanent", &fakeReceipt{n: 1}, Permanent(fail), DeadLettered, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var dead []DeadLetter
			p := Retry(3, 10*time.Millisecond, 40*time.Millisecond).Then(DeadLetterTo(func(_ context.Context, d DeadLetter) error {
				dead = append(dead, d)
				return nil
			}))
			run := NewRun(zap.NewNop(), p)
			g, err := NewGuard[int](run.Scope(1, "stage"), nil, nil)
			require.NoError(t, err)
			calls = 0
			_, ok, err := Recover(context.Background(), g, 0, 7, WithReceipt(c.r), c.err, f)
			assert.False(t, ok)
			require.NoError(t, err)
			assert.Equal(t, []Outcome{c.want}, c.r.outcomes())
			assert.Zero(t, calls, "the source redelivers; the stage does not call again")
			assert.Zero(t, run.Counts.Retried.Load())
			if c.requeued {
				assert.Empty(t, dead)
				assert.Equal(t, int64(1), run.Counts.Requeued.Load())
				lo := 10 * time.Millisecond << (c.r.n - 1) / 2
				assert.GreaterOrEqual(t, c.r.after, lo, "the backoff of attempt %d", c.r.n)
				assert.LessOrEqual(t, c.r.after, 2*lo)
			} else {
				require.Len(t, dead, 1)
				assert.ErrorIs(t, dead[0].Err, fail)
				assert.Equal(t, int64(1), run.Counts.DeadLettered.Load())
			}
		})
	}
}
