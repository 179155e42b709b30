package stats_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/stats"
)

// jsonLogger logs JSON lines to w, for tests to parse.
func jsonLogger(w *syncbuf.Buffer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = ""
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), zap.InfoLevel))
}

// lines parses the JSON lines logged to w.
func lines(t *testing.T, w *syncbuf.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(w.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

// waitFor polls until cond holds; the bound only keeps a broken test from
// hanging, it measures nothing.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProgressLogsLinesWhenNotOnATerminal(t *testing.T) {
	var logs syncbuf.Buffer
	var done atomic.Int64
	p := stats.NewProgress(&syncbuf.Buffer{}, stats.ProgressTerminal(false), stats.ProgressEvery(2*time.Millisecond),
		stats.ProgressTotal(func() int64 { return 100 }), stats.ProgressLogger(jsonLogger(&logs)))
	p.Start(done.Load)
	done.Store(40)
	waitFor(t, func() bool { return strings.Contains(logs.String(), `"done":40`) })
	done.Store(100)
	p.Stop()

	ls := lines(t, &logs)
	require.NotEmpty(t, ls)
	var mid map[string]any
	for _, l := range ls {
		if l["done"] == 40.0 {
			mid = l
			break
		}
	}
	require.NotNil(t, mid)
	assert.Equal(t, "progress", mid["msg"])
	assert.Equal(t, 100.0, mid["total"])
	assert.Contains(t, mid, "eta", "with a total and a rate, the time left")
	assert.Positive(t, mid["items_per_s"])
	last := ls[len(ls)-1]
	assert.Equal(t, "progress: finished", last["msg"])
	assert.Equal(t, 100.0, last["done"])
	assert.NotContains(t, last, "eta", "nothing is left")
}

func TestProgressWithoutATotalShowsCountsAndRate(t *testing.T) {
	var logs syncbuf.Buffer
	var done atomic.Int64
	p := stats.NewProgress(&syncbuf.Buffer{}, stats.ProgressTerminal(false), stats.ProgressEvery(time.Hour),
		stats.ProgressLogger(jsonLogger(&logs)))
	p.Start(done.Load)
	done.Store(7)
	p.Stop()
	ls := lines(t, &logs)
	require.Len(t, ls, 1, "an hour between reports: only the last one")
	assert.Equal(t, 7.0, ls[0]["done"])
	assert.NotContains(t, ls[0], "total")
	assert.NotContains(t, ls[0], "eta")
	assert.Contains(t, ls[0], "items_per_s")
}

func TestProgressDrawsABarOnATerminal(t *testing.T) {
	var out syncbuf.Buffer
	var done atomic.Int64
	p := stats.NewProgress(&out, stats.ProgressTerminal(true), stats.ProgressEvery(2*time.Millisecond),
		stats.ProgressTotal(func() int64 { return 100 }))
	p.Start(done.Load)
	done.Store(50)
	waitFor(t, func() bool { return strings.Contains(out.String(), "50/100") })
	done.Store(100)
	p.Stop()
	s := out.String()
	assert.Contains(t, s, "100/100")
	assert.True(t, strings.HasSuffix(s, "\n"), "the bar's line is ended when the run ends")
	assert.Contains(t, s, "items")
}

func TestProgressKeepsLogLinesApartFromTheBar(t *testing.T) {
	var out syncbuf.Buffer
	var done atomic.Int64
	p := stats.NewProgress(&out, stats.ProgressTerminal(true), stats.ProgressEvery(2*time.Millisecond),
		stats.ProgressTotal(func() int64 { return 10 }))
	log := p.WrapLogger(jsonLogger(&out))
	p.Start(done.Load)
	done.Store(3)
	waitFor(t, func() bool { return strings.Contains(out.String(), "3/10") })
	log.Info("hello")
	p.Stop()
	s := out.String()
	bar, line := strings.Index(s, "3/10"), strings.Index(s, `{"level":"info","msg":"hello"}`)
	require.Positive(t, line, "the log line is whole")
	require.Less(t, bar, line)
	between := s[bar:line]
	assert.True(t, strings.HasSuffix(between, "\r"), "the bar's line is cleared just before the log line: %q", between)

	plain := jsonLogger(&out)
	q := stats.NewProgress(&out, stats.ProgressTerminal(false))
	assert.Same(t, plain, q.WrapLogger(plain), "without a bar the logger is left alone")
}

// A nil writer crashed the first report (a zap core writing to nil); it now
// writes nothing itself, and a ProgressLogger still gets the lines.
func TestProgressWithANilWriterWritesOnlyToItsLogger(t *testing.T) {
	var done atomic.Int64
	p := stats.NewProgress(nil, stats.ProgressEvery(time.Hour))
	p.Start(done.Load)
	done.Store(3)
	p.Stop()

	var logs syncbuf.Buffer
	p = stats.NewProgress(nil, stats.ProgressEvery(time.Hour), stats.ProgressLogger(jsonLogger(&logs)))
	p.Start(done.Load)
	p.Stop()
	ls := lines(t, &logs)
	require.Len(t, ls, 1)
	assert.Equal(t, 3.0, ls[0]["done"])
}
