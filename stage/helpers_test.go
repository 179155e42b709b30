package stage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errBoom is the failure the test handlers return.
var errBoom = errors.New("boom")

// workerCounts are the concurrency levels every ParMap test runs at: one
// worker (no concurrency), a few, and more workers than most inputs have
// items in flight.
var workerCounts = []int{1, 2, 8, 64}

// ordering is one of ParMap's two output modes.
type ordering struct {
	name    string
	ordered bool
}

func (o ordering) opts(more ...stage.Option) []stage.Option {
	if o.ordered {
		return append([]stage.Option{stage.Ordered()}, more...)
	}
	return more
}

var orderings = []ordering{{"unordered", false}, {"ordered", true}}

// ints returns 0, 1, ..., n-1.
func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// run runs p under a generous deadline, so that a pipeline that never ends
// fails its test (with a "Cancelled" status) instead of hanging the package.
func run(t *testing.T, p *pipeline.Pipeline) pipeline.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Run(ctx)
}

// label is the label function the tests give with stage.Label.
func label(v int) string { return fmt.Sprintf("item %d", v) }

// requirePanic checks that err is a *stage.PanicError with value, whose stack
// names the function fn that panicked.
func requirePanic(t *testing.T, err error, value any, fn string) {
	t.Helper()
	var pe *stage.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, value, pe.Value)
	assert.Contains(t, string(pe.Stack), fn)
}
