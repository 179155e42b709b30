package flow

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

type mode uint8

const (
	modeFailFast mode = iota
	modeSkip
	modeRetry
	modeDeadLetter
)

// Policy says what happens to an item whose handler returned an error or
// panicked. The zero Policy is FailFast.
type Policy struct {
	mode     mode
	attempts int
	base     time.Duration
	max      time.Duration
	dead     func(context.Context, DeadLetter) error
	then     *Policy
	invalid  string // why the policy cannot work, set by InvalidPolicy
}

// DeadLetter is an item that failed, handed to a dead-letter function with
// the error that sank it.
type DeadLetter struct {
	Stage string // the stage's name
	Label string // the item's label
	Item  any    // the item the stage received
	Err   error  // a *Error naming stage, label and cause
}

// FailFast stops the run at the first failure: the seed's behaviour.
func FailFast() Policy { return Policy{mode: modeFailFast} }

// Skip counts the failure, drops the item and carries on.
func Skip() Policy { return Policy{mode: modeSkip} }

// Retry calls the handler again, up to attempts calls in all, sleeping an
// exponentially growing, jittered delay (base, 2*base, ... capped at max)
// between calls. Errors marked Permanent are not retried. After the last
// attempt the fallback set with Then applies (FailFast by default).
func Retry(attempts int, base, max time.Duration) Policy {
	return Policy{mode: modeRetry, attempts: attempts, base: base, max: max}
}

// DeadLetterTo hands failed items to f and carries on. Calls to f are
// serialized across the whole run. An error from f stops the run.
func DeadLetterTo(f func(context.Context, DeadLetter) error) Policy {
	return Policy{mode: modeDeadLetter, dead: f}
}

// InvalidPolicy returns a policy that cannot work, for reason: Validate
// reports it, so a pipeline using it is invalid before anything runs.
func InvalidPolicy(reason string) Policy { return Policy{invalid: reason} }

// Then sets what a Retry policy does once its attempts are used up. It has no
// effect on other policies.
func (p Policy) Then(fallback Policy) Policy {
	p.then = &fallback
	return p
}

// Validate reports a policy that cannot work.
func (p Policy) Validate() error {
	if p.invalid != "" {
		return errors.New(p.invalid)
	}
	switch p.mode {
	case modeRetry:
		if p.attempts < 1 {
			return fmt.Errorf("retry attempts must be >= 1, got %d", p.attempts)
		}
		if p.base < 0 || p.max < p.base {
			return fmt.Errorf("retry delays must satisfy 0 <= base <= max, got base %v, max %v", p.base, p.max)
		}
		if p.then != nil {
			if p.then.mode == modeRetry {
				return fmt.Errorf("a retry policy's fallback cannot be another retry")
			}
			return p.then.Validate()
		}
	case modeDeadLetter:
		if p.dead == nil {
			return fmt.Errorf("dead-letter policy has a nil function")
		}
	}
	return nil
}

func (p Policy) String() string {
	switch p.mode {
	case modeSkip:
		return "skip"
	case modeRetry:
		s := fmt.Sprintf("retry(%d, %v..%v)", p.attempts, p.base, p.max)
		if p.then != nil {
			s += " then " + p.then.String()
		}
		return s
	case modeDeadLetter:
		return "dead letter"
	default:
		return "fail fast"
	}
}

// fallback is the policy that applies after a retry policy gives up.
func (p Policy) fallback() Policy {
	if p.then != nil {
		return *p.then
	}
	return FailFast()
}

// backoff is the delay before the attempt after attempt n (n >= 1): full
// jitter over an exponentially growing window, so retries from many workers
// do not arrive in lockstep.
func (p Policy) backoff(n int) time.Duration {
	d := p.base
	for i := 1; i < n && d < p.max; i++ {
		if d > p.max/2 {
			d = p.max // doubling would pass max, or overflow
			break
		}
		d *= 2
	}
	d = min(d, p.max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}
