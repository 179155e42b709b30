package faultkit

import (
	"errors"
	"syscall"

	"github.com/conveyor-go/conveyor/pipeline"
)

// Ending is how a run ended, as its ExitStatus says.
type Ending uint8

// The endings of a run; EndOther is the last, so an array indexed by Ending
// is [EndOther + 1]T.
const (
	EndSuccess  Ending = iota // code 0
	EndFailure                // code 1
	EndDrained                // 130, not Hard
	EndHardStop               // 130, Hard
	EndOther
)

var endingNames = [...]string{"success (0)", "failure (1)", "drained (130)", "stopped hard (130)", "other"}

// String returns the ending's name with its exit code, e.g. "drained (130)".
func (e Ending) String() string {
	if e > EndOther {
		return endingNames[EndOther]
	}
	return endingNames[e]
}

// EndingOf returns how the run with this ExitStatus ended.
func EndingOf(st pipeline.ExitStatus) Ending {
	var se *pipeline.SignalError
	switch {
	case st.Code == pipeline.CodeSuccess:
		return EndSuccess
	case st.Code == pipeline.CodeFailure:
		return EndFailure
	case st.Code == 128+int(syscall.SIGINT) && errors.As(st.Err, &se):
		if se.Hard {
			return EndHardStop
		}
		return EndDrained
	}
	return EndOther
}
