package pipeline_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// WithSignals(nil) made Run spin for ever in signal.Stop after the run, and
// a nil among other signals was silently accepted; both are now an invalid
// pipeline naming the option. The 5s bound only keeps the old behaviour
// from hanging the suite.
func TestANilSignalIsInvalid(t *testing.T) {
	cases := []struct {
		sigs []os.Signal
		want string
	}{
		{[]os.Signal{nil}, "WithSignals: signal 0 is nil"},
		{[]os.Signal{syscall.SIGUSR1, nil}, "WithSignals: signal 1 is nil"},
	}
	for _, tc := range cases {
		done := make(chan pipeline.ExitStatus, 1)
		go func() {
			done <- pipeline.New(source.Slice([]int{1, 2, 3}), pipeline.WithSignals(tc.sigs...)).
				Sink(sink.Discard[int]()).Run(context.Background())
		}()
		var st pipeline.ExitStatus
		select {
		case st = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("WithSignals(%v): Run did not return within 5s", tc.sigs)
		}
		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.True(t, errors.Is(st.Err, pipeline.ErrInvalid))
		assert.Contains(t, st.Message, tc.want)
	}
}
