package pipeline_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
)

func TestWithProgressReportsTheRunToItsEnd(t *testing.T) {
	for _, bar := range []bool{false, true} {
		t.Run(map[bool]string{false: "log lines", true: "bar"}[bar], func(t *testing.T) {
			var out syncbuf.Buffer
			reg := stats.New()
			p := stats.NewProgress(&out, stats.ProgressTerminal(bar), stats.ProgressEvery(time.Millisecond),
				stats.ProgressTotal(func() int64 { return reg.Get("items_total") }))
			src := source.Func(func(ctx context.Context, yield func(int) bool) error {
				reg.SetTotal("items_total", 500)
				for i := range 500 {
					if !yield(i) {
						return nil
					}
				}
				return nil
			})
			slow := stage.Func(func(_ context.Context, v int) (int, error) { time.Sleep(20 * time.Microsecond); return v, nil })
			st := pipeline.New(src, pipeline.WithProgress(p)).ParMap(4, slow).Sink(sink.Discard[int]()).Run(t.Context())
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)

			s := out.String()
			if bar {
				assert.Contains(t, s, "500/500")
			} else {
				last := s[strings.LastIndex(strings.TrimSpace(s), "\n")+1:]
				assert.Contains(t, last, "progress: finished")
				assert.Contains(t, last, `"done": 500`)
				assert.Contains(t, last, `"total": 500`)
			}
		})
	}
}

func TestWithProgressStopsWhenTheRunIsCancelled(t *testing.T) {
	var out syncbuf.Buffer
	p := stats.NewProgress(&out, stats.ProgressTerminal(false), stats.ProgressEvery(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	h := stage.Func(func(hctx context.Context, v int) (int, error) {
		if v == 10 {
			cancel()
			<-hctx.Done()
		}
		return v, nil
	})
	st := pipeline.New(counting(1000, new(atomic.Int64)), pipeline.WithProgress(p)).ParMap(2, h).Sink(sink.Discard[int]()).Run(ctx)
	require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
	assert.Contains(t, out.String(), "progress: finished", "the last report is made however the run ends")
}
