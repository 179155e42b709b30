package faultkit

import (
	"errors"
	"syscall"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
)

func TestEndingOf(t *testing.T) {
	sig := 128 + int(syscall.SIGINT)
	for _, c := range []struct {
		st   pipeline.ExitStatus
		want Ending
	}{
		{pipeline.ExitStatus{Code: pipeline.CodeSuccess}, EndSuccess},
		{pipeline.ExitStatus{Code: pipeline.CodeFailure, Err: errors.New("boom")}, EndFailure},
		{pipeline.ExitStatus{Code: sig, Err: &pipeline.SignalError{Signal: syscall.SIGINT}}, EndDrained},
		{pipeline.ExitStatus{Code: sig, Err: &pipeline.SignalError{Signal: syscall.SIGTERM, Hard: true}}, EndHardStop},
		{pipeline.ExitStatus{Code: sig, Err: errors.New("no SignalError")}, EndOther},
		{pipeline.ExitStatus{Code: 2}, EndOther},
	} {
		if got := EndingOf(c.st); got != c.want {
			t.Errorf("EndingOf(code %d, %v) = %v, want %v", c.st.Code, c.st.Err, got, c.want)
		}
	}
	if s := EndHardStop.String(); s != "stopped hard (130)" {
		t.Errorf("EndHardStop.String() = %q", s)
	}
}
