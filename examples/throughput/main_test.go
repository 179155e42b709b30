package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTheVerdictNamesTheSlowStage(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			var table syncbuf.Buffer
			var written bytes.Buffer
			// Well over the 100 items ParMap buffers, so that the source waits.
			cfg := config{items: 400 + 100*workers, workers: workers, lookup: time.Millisecond}
			st := build(cfg, &written, pipeline.WithReport(&table)).Run(context.Background())
			require.True(t, st.OK(), st.Message)

			assert.Equal(t, cfg.items, strings.Count(written.String(), "\n"), "every order is written")
			assert.Equal(t, "enrich", st.Report.Verdict.Stage)
			assert.Equal(t, 2, st.Report.Verdict.Index)
			out := table.String()
			assert.Contains(t, out, `bottleneck: stage 2 "enrich"`)
			for _, name := range []string{"source", "parse", "enrich", "batch", "write"} {
				assert.Contains(t, out, name, "a row for %s", name)
			}
			enrich := st.Report.Stages[2]
			assert.Greater(t, enrich.Busy, 0.9, "the slow stage is busy")
			assert.Greater(t, st.Report.Stages[1].Backpressured, 0.5, "parse waits on it")
		})
	}
}

func TestTheReportIsJSON(t *testing.T) {
	st := build(config{items: 20, workers: 2, lookup: 100 * time.Microsecond}, &bytes.Buffer{}).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	b, err := st.Report.JSON()
	require.NoError(t, err)
	assert.Contains(t, string(b), `"name": "enrich"`)
	assert.Contains(t, string(b), `"verdict"`)
}
