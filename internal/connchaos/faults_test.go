package connchaos_test

import (
	"fmt"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
)

// rec is what flows through every run: an input's id, and a value each
// stage changes, so that an output can be traced back to its input.
type rec struct {
	ID int `json:"id"`
	V  int `json:"v"`
}

type faultKind uint8

const (
	fNone      faultKind = iota
	fTransient           // an error on the first k calls
	fPermanent           // an error on every call (stage.Permanent where the position has a handler of the test's)
	fPanic               // a panic on the first k calls
)

var faultNames = [...]string{"none", "transient error", "permanent error", "panic"}

// fault is what the calls of one position on one input do.
type fault struct {
	kind faultKind
	k    int
}

// fails says whether call (from 1) fails.
func (f fault) fails(call int) bool {
	switch f.kind {
	case fPermanent:
		return true
	case fTransient, fPanic:
		return call <= f.k
	}
	return false
}

// faultOf is the fault plan: a pure function of the seed, the position
// (0: the decoder, then the stages, then the sink) and the input's id, so
// that a replay injects the same faults at the same inputs.
func (s *spec) faultOf(pos, rate, id int) fault {
	h := faultkit.Mix(uint64(s.seed), uint64(pos), uint64(id))
	if rate == 0 || int(h%10000) >= rate {
		return fault{}
	}
	h2 := faultkit.Splitmix(h)
	f := fault{k: 1 + int(h2>>32%3)}
	switch pct := int(h2 % 100); {
	case pct < s.faults.permanentPct:
		f.kind = fPermanent
	case pct < s.faults.permanentPct+s.faults.panicPct:
		f.kind = fPanic
	default:
		f.kind = fTransient
	}
	return f
}

// badLine says whether the text input's line of id is not JSON: a text
// decode fault, permanent by nature.
func (s *spec) badLine(id int) bool {
	return s.faultOf(s.src.idx, s.src.decodeRate, id).kind != fNone
}

// injected is the error of an injected fault: its position, the input
// and the call. Each is a value of its own, so that the run's error tells
// which fault stopped it (errors.As).
type injected struct {
	pos, id, call int
	at            time.Time
}

func (e *injected) Error() string {
	return fmt.Sprintf("injected fault at position %d, input %d, call %d", e.pos, e.id, e.call)
}

// failure is one injected fault that fired: where, on which inputs, when,
// and the error or panic value it raised, so that the run's error can be
// traced to it and the time from it to Run's return measured.
type failure struct {
	pos   int
	ids   []int
	kind  faultKind
	at    time.Time
	err   error  // the error returned, if any
	panic string // the panic value, if any
	what  string // for reports
}

func (f failure) String() string {
	return fmt.Sprintf("%s at position %d on %v (%s)", faultNames[f.kind], f.pos, f.ids, f.what)
}
