package flow

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffGrowsWithinItsWindowAndNeverPassesMax(t *testing.T) {
	cases := []struct {
		name      string
		base, max time.Duration
	}{
		{"small delays", time.Millisecond, 50 * time.Millisecond},
		{"base equals max", time.Second, time.Second},
		{"no cap", time.Millisecond, math.MaxInt64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Retry(100, tc.base, tc.max)
			want := tc.base
			for n := 1; n < 100; n++ {
				for range 20 {
					d := p.backoff(n)
					assert.GreaterOrEqual(t, d, want/2, "attempt %d", n)
					assert.LessOrEqual(t, d, want, "attempt %d", n)
				}
				if want > tc.max/2 {
					want = tc.max
				} else {
					want *= 2
				}
			}
		})
	}
	assert.Zero(t, Retry(3, 0, 0).backoff(2), "a zero base means no sleep")
}

func TestPolicyValidate(t *testing.T) {
	assert.NoError(t, FailFast().Validate())
	assert.NoError(t, Skip().Validate())
	assert.NoError(t, Retry(1, 0, 0).Then(Skip()).Validate())
	assert.ErrorContains(t, Retry(0, 0, 0).Validate(), "attempts must be >= 1")
	assert.ErrorContains(t, Retry(2, time.Second, time.Millisecond).Validate(), "base <= max")
	assert.ErrorContains(t, Retry(2, 0, 0).Then(Retry(2, 0, 0)).Validate(), "cannot be another retry")
	assert.ErrorContains(t, Retry(2, 0, 0).Then(DeadLetterTo(nil)).Validate(), "nil function")
	assert.Equal(t, "retry(3, 1ms..1s) then skip", Retry(3, time.Millisecond, time.Second).Then(Skip()).String())
	assert.Equal(t, "fail fast", Policy{}.String(), "the zero policy fails fast")
}

func TestErrorsReadWell(t *testing.T) {
	cause := errors.New("boom")
	assert.Equal(t, `stage 2 "parse", item #7: boom`, (&Error{Stage: "parse", Index: 2, Label: "#7", Err: cause}).Error())
	assert.Equal(t, `stage 2 "parse", item "18 / 50": boom`, (&Error{Stage: "parse", Index: 2, Label: "18 / 50", Err: cause}).Error())
	assert.Equal(t, `stage 1 "x", item "#tag": boom`, (&Error{Stage: "x", Index: 1, Label: "#tag", Err: cause}).Error())
	assert.True(t, IsPermanent(Permanent(cause)))
	assert.ErrorIs(t, Permanent(cause), cause)
	assert.False(t, IsPermanent(cause))
	assert.NoError(t, Permanent(nil))
	assert.ErrorIs(t, &BuildError{Reason: "x"}, ErrInvalid)
	pe := NewPanicError(cause)
	assert.ErrorIs(t, pe, cause)
	assert.Contains(t, string(pe.Stack), "TestErrorsReadWell")
}
