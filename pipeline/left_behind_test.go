package pipeline_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

// A goroutine that a source leaves behind (textsrc over an arbitrary
// reader, Merge over a generator that ignores its context) is counted in
// the ExitStatus, said in its Message and in the report, and named in the
// log.
func TestLeftBehind(t *testing.T) {
	t.Run("a goroutine left behind is counted, said and logged", func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		var report bytes.Buffer
		src := source.Func(func(ctx context.Context, yield func(int) bool) error {
			flow.RunOf(ctx).LeaveBehind("a test's reader")
			yield(1)
			return nil
		})
		st := pipeline.New(src, pipeline.WithLogger(zap.New(core)), pipeline.WithReport(&report)).
			Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, 1, st.LeftBehind)
		assert.Equal(t, "Success; 1 goroutine left behind, blocked in a source (see the log)", st.Message)
		assert.Contains(t, report.String(), "\n1 goroutine left behind, blocked in a source (see the log)\n")
		entries := logs.FilterMessageSnippet("left behind").All()
		require.Len(t, entries, 1)
		assert.Equal(t, "a test's reader", entries[0].ContextMap()["blocked in"])
	})

	t.Run("a run that leaves none says nothing of it", func(t *testing.T) {
		var report bytes.Buffer
		st := pipeline.New(source.Slice([]int{1}), pipeline.WithReport(&report)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Zero(t, st.LeftBehind)
		assert.Equal(t, "Success", st.Message)
		assert.NotContains(t, report.String(), "left behind")
	})
}
