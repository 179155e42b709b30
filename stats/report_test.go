package stats_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stats"
)

// chain returns hand-made stage reports: a source, the stages given as
// busy shares (the stage before each one backpressured by bp), and a sink.
func chain(busy ...float64) []stats.StageReport {
	ss := []stats.StageReport{{Index: 0, Name: "src", Role: stats.RoleSource, Workers: 1, Busy: 0.1, Backpressured: 0.9}}
	for i, b := range busy {
		ss = append(ss, stats.StageReport{Index: i + 1, Name: "s" + string(rune('1'+i)), Role: stats.RoleStage, Busy: b, Idle: 1 - b})
	}
	ss = append(ss, stats.StageReport{Index: len(ss), Name: "out", Role: stats.RoleSink, Busy: 0.01, Idle: 0.99})
	return ss
}

func TestVerdictWithoutStages(t *testing.T) {
	for _, stages := range [][]stats.StageReport{nil, {}} {
		r := stats.NewReport(time.Second, stages)
		assert.Equal(t, time.Second, r.Elapsed)
		assert.Equal(t, -1, r.Verdict.Index)
		assert.Empty(t, r.Verdict.Stage)
		assert.Equal(t, "no stages were measured", r.Verdict.Text)
	}
}

func TestVerdictNoBottleneck(t *testing.T) {
	r := stats.NewReport(time.Second, chain(0.2, 0.49, 0.3))
	v := r.Verdict
	assert.Empty(t, v.Stage)
	assert.Equal(t, -1, v.Index)
	assert.True(t, strings.HasPrefix(v.Text, "no bottleneck"), v.Text)
	assert.NotContains(t, v.Text, "Try:", "no advice without a bottleneck")
	assert.Contains(t, v.Text, `"s2"`, "names the busiest stage")
	assert.Contains(t, v.Text, "49%")
}

func TestVerdictNamesTheBusiest(t *testing.T) {
	ss := chain(0.3, 0.8, 0.6)
	r := stats.NewReport(time.Second, ss)
	assert.Equal(t, stats.Verdict{
		Stage: "s2", Index: 2,
		Text: `bottleneck: stage 2 "s2", busy 80% of its time. ` +
			"Try: ParMap instead, to run its function on several workers; it runs in the goroutine of the stage before it.",
	}, r.Verdict)
	assert.Equal(t, ss, r.Stages)

	t.Run("at exactly half busy", func(t *testing.T) {
		v := stats.NewReport(time.Second, chain(0.5)).Verdict
		assert.Equal(t, "s1", v.Stage)
		assert.Equal(t, 1, v.Index)
	})
	t.Run("the first of equally busy stages", func(t *testing.T) {
		v := stats.NewReport(time.Second, chain(0.7, 0.9, 0.9)).Verdict
		assert.Equal(t, "s2", v.Stage)
	})
	t.Run("index from the stage, not its position", func(t *testing.T) {
		ss := chain(0.9)
		ss[1].Index = 7
		v := stats.NewReport(time.Second, ss).Verdict
		assert.Equal(t, 7, v.Index)
		assert.Contains(t, v.Text, `stage 7 "s1"`)
	})
}

func TestVerdictMentionsTheStageBefore(t *testing.T) {
	t.Run("the source", func(t *testing.T) {
		ss := chain(0.9) // the source is backpressured 90%
		assert.Contains(t, stats.NewReport(time.Second, ss).Verdict.Text, `while "src" before it waits on it 90% of its time`)
	})

	ss := chain(0.05, 0.95)
	ss[1].Backpressured = 0.9
	v := stats.NewReport(time.Second, ss).Verdict
	assert.Equal(t, "s2", v.Stage)
	assert.Contains(t, v.Text, `bottleneck: stage 2 "s2", busy 95% of its time, while "s1" before it waits on it 90% of its time. Try:`)

	ss[1].Backpressured = 0.5
	assert.Contains(t, stats.NewReport(time.Second, ss).Verdict.Text, `while "s1" before it waits on it 50%`, "at the threshold")

	ss[1].Backpressured = 0.49
	v = stats.NewReport(time.Second, ss).Verdict
	assert.Equal(t, "s2", v.Stage)
	assert.NotContains(t, v.Text, "before it waits", "the stage before is not held back")

	// The stage before is checked, not any other.
	ss[0].Backpressured, ss[1].Backpressured = 0.99, 0
	assert.NotContains(t, stats.NewReport(time.Second, ss).Verdict.Text, "waits on it")
}

func TestVerdictAdvice(t *testing.T) {
	cases := []struct {
		name  string
		tweak func(ss []stats.StageReport) int // makes a stage the bottleneck, returns its index
		want  string
		not   []string
	}{
		{"source", func(ss []stats.StageReport) int {
			ss[0].Busy, ss[0].Backpressured = 0.99, 0.01
			return 0
		}, "Try: a faster source; the stages after it have time to spare.", []string{"before it waits"}},
		{"sink", func(ss []stats.StageReport) int {
			ss[3].Busy = 0.97
			ss[2].Backpressured = 0.8
			return 3
		}, "Try: writing in larger batches (a Batch before the sink), or a faster sink; or run the writes in a ParMap before a light sink.", nil},
		{"sequential stage", func(ss []stats.StageReport) int {
			ss[1].Busy = 0.9
			return 1
		}, "Try: ParMap instead, to run its function on several workers; it runs in the goroutine of the stage before it.", nil},
		{"parmap", func(ss []stats.StageReport) int {
			ss[2].Busy, ss[2].Workers = 0.9, 8
			return 2
		}, "Try: more workers than 8 if its handler waits (I/O, sleeps); if it computes, a faster handler or more cores (GOMAXPROCS).", nil},
		{"a sink with workers is still a sink", func(ss []stats.StageReport) int {
			ss[3].Busy, ss[3].Workers = 0.97, 2
			return 3
		}, "Try: writing in larger batches", []string{"more workers"}},
	}
	var texts []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ss := chain(0.1, 0.2)
			i := c.tweak(ss)
			v := stats.NewReport(time.Second, ss).Verdict
			assert.Equal(t, ss[i].Name, v.Stage)
			assert.Equal(t, i, v.Index)
			assert.Contains(t, v.Text, ". "+c.want)
			for _, s := range c.not {
				assert.NotContains(t, v.Text, s)
			}
			_, advice, ok := strings.Cut(v.Text, "Try:")
			require.True(t, ok, v.Text)
			texts = append(texts, advice)
		})
	}
	// The four kinds of stage get four different pieces of advice.
	assert.Len(t, texts, len(cases))
	seen := map[string]bool{}
	for _, s := range texts[:4] {
		seen[s] = true
	}
	assert.Len(t, seen, 4, texts)
}

// sample is a report with every kind of row.
func sample() stats.Report {
	gen := stats.StageReport{Index: 0, Name: "gen", Role: stats.RoleSource, Workers: 1, In: 1000, Out: 1000, Rate: 12_345_678}
	gen.Busy, gen.Backpressured = 0.05, 0.95

	parse := stats.StageReport{Index: 1, Name: "parse", Role: stats.RoleStage, In: 1000, Out: 990, Errors: 10, Skipped: 10, Rate: 23_456}
	parse.Latency = stats.Latency{Count: 1000, P50: 1234 * time.Nanosecond, P90: 2345678 * time.Nanosecond, P99: 3 * time.Millisecond, Max: 15 * time.Second}
	parse.Busy, parse.Idle, parse.Backpressured = 0.1, 0.05, 0.85

	fetch := stats.StageReport{Index: 2, Name: "fetch", Role: stats.RoleStage, Workers: 4, In: 990, Out: 990, Rate: 330}
	fetch.Latency = stats.Latency{Count: 990, P50: 12 * time.Millisecond, P90: 20 * time.Millisecond, P99: 30 * time.Millisecond, Max: 31 * time.Millisecond}
	fetch.Busy, fetch.Idle = 0.996, 0.004
	fetch.Queue = &stats.Queue{InMean: 97.6, InMax: 100, OutMean: 0.4, OutMax: 3}

	save := stats.StageReport{Index: 3, Name: "save", Role: stats.RoleSink, In: 990, Out: 990, Rate: 9_999}
	// Nothing timed: the latency columns show "-", whatever the fields hold.
	save.Latency = stats.Latency{P50: time.Second}
	save.Idle = 1

	return stats.NewReport(3*time.Second, []stats.StageReport{gen, parse, fetch, save})
}

func TestWriteTable(t *testing.T) {
	r := sample()
	var b strings.Builder
	require.NoError(t, r.WriteTable(&b))
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 6, out)
	assert.True(t, strings.HasSuffix(out, "\n"))

	row := func(i int) []string { return strings.Fields(lines[i]) }
	assert.Equal(t, []string{"stage", "workers", "in", "out", "items/s", "p50", "p90", "p99", "max", "busy", "idle", "backpr.", "errors", "queue"}, row(0))
	assert.Equal(t, []string{"0", "gen", "1", "1000", "1000", "12.35M", "-", "-", "-", "-", "5%", "0%", "95%", "0", "-"}, row(1))
	assert.Equal(t, []string{"1", "parse", "-", "1000", "990", "23.5k", "1.23µs", "2.35ms", "3ms", "15s", "10%", "5%", "85%", "10", "-"}, row(2))
	assert.Equal(t, []string{"2", "fetch", "4", "990", "990", "330", "12ms", "20ms", "30ms", "31ms", "100%", "0%", "0%", "0", "98/0"}, row(3))
	assert.Equal(t, []string{"3", "save", "-", "990", "990", "9999", "-", "-", "-", "-", "0%", "100%", "0%", "0", "-"}, row(4))
	assert.Equal(t, r.Verdict.Text, lines[5])
	assert.True(t, strings.HasPrefix(lines[5], `bottleneck: stage 2 "fetch", busy 100% of its time, while "parse" before it waits on it 85% of its time. Try: more workers than 4 `), lines[5])

	// Columns line up: right-aligned, every row as wide as the header.
	for i := 1; i < 5; i++ {
		assert.Equal(t, len([]rune(lines[0])), len([]rune(lines[i])), "row %d\n%s", i, out)
	}
}

func TestWriteTableEmpty(t *testing.T) {
	var b strings.Builder
	require.NoError(t, stats.NewReport(0, nil).WriteTable(&b))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 2, b.String())
	assert.Equal(t, "stage", strings.Fields(lines[0])[0])
	assert.Equal(t, "no stages were measured", lines[1])
}

// failingWriter fails its first fail writes, and takes the others.
type failingWriter struct{ fail int }

var errWrite = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail > 0 {
		w.fail--
		return 0, errWrite
	}
	return len(p), nil
}

func TestWriteTableReportsWriteErrors(t *testing.T) {
	assert.ErrorIs(t, sample().WriteTable(&failingWriter{fail: 1}), errWrite, "writing the table")
	assert.ErrorIs(t, sample().WriteTable(&failingWriter{fail: 1 << 20}), errWrite, "writing anything")
	assert.NoError(t, sample().WriteTable(&failingWriter{}))
}

func TestLatencyBound(t *testing.T) {
	var l stats.Latency
	assert.Equal(t, 1024*time.Nanosecond, l.Bound(0))
	assert.Equal(t, 2048*time.Nanosecond, l.Bound(1))
	assert.Equal(t, time.Duration(1)<<20, l.Bound(10))
	for i := 1; i < 30; i++ {
		assert.Equal(t, 2*l.Bound(i-1), l.Bound(i), "bound %d doubles the one before", i)
	}
	// The bound does not depend on the latency's values.
	assert.Equal(t, l.Bound(5), stats.Latency{Count: 9, Below: []uint64{1, 2}}.Bound(5))
}

func TestReportJSON(t *testing.T) {
	r := sample()
	r.Stages[1].Latency.Below = []uint64{1, 5, 9}
	data, err := r.JSON()
	require.NoError(t, err)
	assert.True(t, json.Valid(data))
	assert.Contains(t, string(data), "\n  \"elapsed_ns\": 3000000000", "indented, durations in ns")

	var back stats.Report
	require.NoError(t, json.Unmarshal(data, &back))
	want := sample() // the buckets stay out of the JSON
	assert.Equal(t, want, back)

	var raw struct {
		Elapsed int64            `json:"elapsed_ns"`
		Stages  []map[string]any `json:"stages"`
		Verdict map[string]any   `json:"verdict"`
	}
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.Equal(t, int64(3e9), raw.Elapsed)
	require.Len(t, raw.Stages, 4)
	fetch := raw.Stages[2]
	for k, v := range map[string]any{
		"index": 2.0, "name": "fetch", "role": "stage", "workers": 4.0, "in": 990.0, "out": 990.0,
		"errors": 0.0, "skipped": 0.0, "retries": 0.0, "items_per_second": 330.0,
		"busy": 0.996, "idle": 0.004, "backpressured": 0.0,
		"wall_ns": 0.0, "busy_ns": 0.0, "idle_ns": 0.0, "backpressured_ns": 0.0,
	} {
		assert.Equal(t, v, fetch[k], k)
	}
	assert.Equal(t, map[string]any{"in_mean": 97.6, "in_max": 100.0, "out_mean": 0.4, "out_max": 3.0}, fetch["queue"])
	assert.Equal(t, map[string]any{
		"count": 990.0, "sum_ns": 0.0, "p50_ns": 12e6, "p90_ns": 20e6, "p99_ns": 30e6, "max_ns": 31e6,
	}, fetch["latency"])
	assert.NotContains(t, raw.Stages[1], "queue", "no queue, no key")
	assert.NotContains(t, raw.Stages[1]["latency"], "below")
	assert.Equal(t, map[string]any{"stage": "fetch", "index": 2.0, "text": r.Verdict.Text}, raw.Verdict)
}
