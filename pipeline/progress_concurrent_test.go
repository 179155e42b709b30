package pipeline_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stats"
)

// Two overlapping runs of one pipeline built WithProgress panicked with
// "close of closed channel" (the second Start replaced the first's state).
// They now share the Progress: it shows the items of both, and its last
// report comes when the last of them ends.
func TestConcurrentRunsShareTheirProgress(t *testing.T) {
	var out syncbuf.Buffer
	p := stats.NewProgress(&out, stats.ProgressTerminal(false), stats.ProgressEvery(time.Millisecond))
	var started sync.WaitGroup
	started.Add(2)
	// Each run's source waits for the other's: both runs have started the
	// Progress before either can end.
	src := source.Func(func(ctx context.Context, yield func(int) bool) error {
		started.Done()
		started.Wait()
		for i := range 300 {
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
	pl := pipeline.New(src, pipeline.WithProgress(p)).Sink(sink.Discard[int]())
	sts := make([]pipeline.ExitStatus, 2)
	var wg sync.WaitGroup
	for i := range sts {
		wg.Go(func() { sts[i] = pl.Run(t.Context()) })
	}
	wg.Wait()
	for _, st := range sts {
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	}
	s := strings.TrimSpace(out.String())
	assert.Equal(t, 1, strings.Count(s, "progress: finished"), "one last report, when the last run ends")
	last := s[strings.LastIndex(s, "\n")+1:]
	assert.Contains(t, last, "progress: finished")
	assert.Contains(t, last, `"done": 600`)
}
