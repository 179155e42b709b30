package sink_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// journal is a sink.Writer that records what happens to it.
type journal struct {
	opens, commits, aborts int
	items                  []int
	failAt                 int // the item that fails to write, or -1
}

func (j *journal) open(context.Context) (sink.Writer[int], error) { j.opens++; return j, nil }

func (j *journal) Write(_ context.Context, v int) error {
	if v == j.failAt {
		return errors.New("disk full")
	}
	j.items = append(j.items, v)
	return nil
}
func (j *journal) Commit(context.Context) error { j.commits++; return nil }
func (j *journal) Abort() error                 { j.aborts++; return nil }

func TestNewCommitsAFinishedRunOnce(t *testing.T) {
	j := &journal{failAt: -1}
	s := sink.New("journal", j.open)
	for range 2 {
		st := pipeline.New(source.Slice([]int{1, 2, 3})).Sink(s).Run(context.Background())
		require.True(t, st.OK(), st.Message)
	}
	assert.Equal(t, 2, j.opens, "a Writer per run")
	assert.Equal(t, 2, j.commits)
	assert.Zero(t, j.aborts)
	assert.Equal(t, []int{1, 2, 3, 1, 2, 3}, j.items)
}

func TestNewAbortsAFailedRun(t *testing.T) {
	j := &journal{failAt: 2}
	st := pipeline.New(source.Slice([]int{1, 2, 3})).Sink(sink.New("journal", j.open)).Run(context.Background())
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, "disk full")
	assert.Equal(t, 1, j.aborts)
	assert.Zero(t, j.commits)
}

func TestNewCommitsWhenFailedItemsAreSkipped(t *testing.T) {
	j := &journal{failAt: 2}
	st := pipeline.New(source.Slice([]int{1, 2, 3}), pipeline.OnError(stage.Skip())).
		Sink(sink.New("journal", j.open)).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, []int{1, 3}, j.items)
	assert.Equal(t, 1, j.commits)
	assert.EqualValues(t, 1, st.Counts.Skipped)
}

func TestNewOpensNothingForARunThatFailsFirst(t *testing.T) {
	j := &journal{failAt: -1}
	st := pipeline.New(source.Slice([]int{1})).
		Via(stage.Map(func(context.Context, int) (int, error) { return 0, errors.New("early") })).
		Sink(sink.New("journal", j.open)).Run(context.Background())
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Zero(t, j.opens)
	assert.Zero(t, j.aborts)
}

func TestNewReportsAnOpenError(t *testing.T) {
	s := sink.New("broken", func(context.Context) (sink.Writer[int], error) { return nil, errors.New("no such dir") })
	st := pipeline.New(source.Slice([]int{1})).Sink(s).Run(context.Background())
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, "opening the sink's output")
	assert.Contains(t, st.Message, "no such dir")

	st = pipeline.New(source.Slice([]int{1})).Sink(sink.New[int]("nil", nil)).Run(context.Background())
	assert.Equal(t, pipeline.CodeInvalid, st.Code)
}
