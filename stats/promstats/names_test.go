package promstats_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
	"github.com/conveyor-go/conveyor/stats/promstats"
)

// observed returns a logger and the lines it logs at Warn and above.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.WarnLevel)
	return zap.New(core), logs
}

// logged returns the value of field key of each line logged with msg.
func logged(logs *observer.ObservedLogs, msg, key string) []string {
	var out []string
	for _, e := range logs.FilterMessage(msg).All() {
		out = append(out, fmt.Sprint(e.ContextMap()[key]))
	}
	return out
}

func TestAStatNameOfInvalidUTF8IsEscapedAndTheOthersServed(t *testing.T) {
	reg := stats.New()
	reg.Add("country_\xff", 1)
	reg.Add("country_\xfe", 2) // would be the same name as the first if both became U+FFFD
	reg.Add("country_fr", 3)
	reg.Add("a\\b\xff", 4) // the backslash is doubled, so no two escaped names meet
	reg.Add("caf\xc3", 5)  // a sequence cut short
	reg.Add("caf\u00e9 \ufffd", 6)
	log, logs := observed()
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg, promstats.WithLogger(log)))
	srv := httptest.NewServer(promstats.Handler(prom))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	want := map[string]float64{`country_\xff`: 1, `country_\xfe`: 2, "country_fr": 3, `a\\b\xff`: 4, `caf\xc3`: 5,
		"caf\u00e9 \ufffd": 6} // valid UTF-8, U+FFFD included, is left as it is
	for range 3 {
		fams := scrape(t, client, srv.URL+"/metrics")
		for name, want := range want {
			v, ok := stat(fams, name)
			if assert.True(t, ok, "conveyor_stat{stat=%q} is served", name) {
				assert.Equal(t, want, v, name)
			}
		}
		dropped := sample(fams, "conveyor_stats_dropped", nil)
		require.NotNil(t, dropped)
		assert.Equal(t, 0.0, dropped.GetGauge().GetValue())
	}
	assert.ElementsMatch(t, []string{`country_\xff`, `country_\xfe`, `a\\b\xff`, `caf\xc3`},
		logged(logs, "stat name is not valid UTF-8: exported escaped", "stat"), "each escaped name is logged once, in 3 scrapes")
}

func TestAStatWhoseEscapedNameIsTakenIsDroppedAndCounted(t *testing.T) {
	reg := stats.New()
	reg.Add(`x\xff`, 1) // a valid name, as "x\xff" escapes
	reg.Add("x\xff", 2)
	log, logs := observed()
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg, promstats.WithLogger(log)))
	for range 2 {
		fams, err := prom.Gather()
		require.NoError(t, err)
		byName := map[string]*dto.MetricFamily{}
		for _, f := range fams {
			byName[f.GetName()] = f
		}
		require.Len(t, byName["conveyor_stat"].GetMetric(), 1)
		v, ok := stat(byName, `x\xff`)
		require.True(t, ok)
		assert.Equal(t, 1.0, v, "the first by name is exported: backslash comes before byte 0xff")
		assert.Equal(t, 1.0, sample(byName, "conveyor_stats_dropped", nil).GetGauge().GetValue())
	}
	assert.Equal(t, []string{`x\xff`}, logged(logs, "stat not exported: escaped, its name is another stat's", "stat"),
		"logged once, in 2 scrapes")
}

func TestStageAndPipelineNamesOfInvalidUTF8AreEscaped(t *testing.T) {
	log, logs := observed()
	c := promstats.NewCollector("etl_\xff", nil, promstats.WithLogger(log))
	prom := prometheus.NewRegistry()
	require.NoError(t, prom.Register(c), "a pipeline name of invalid UTF-8 is escaped, not refused")
	srv := httptest.NewServer(promstats.Handler(prom))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	st := pipeline.New(source.Slice([]int{1, 2, 3}), pipeline.WithWatcher(c)).
		Via(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil }, stage.Name("double_\xff"))).
		Via(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil }, stage.Name("double_\xfe"))).
		Sink(sink.Discard[int]()).Run(context.Background())
	require.True(t, st.OK(), st.Message)

	for range 2 {
		fams := scrape(t, client, srv.URL+"/metrics")
		for _, name := range []string{`double_\xff`, `double_\xfe`} {
			m := sample(fams, "conveyor_stage_items_total", map[string]string{"pipeline": `etl_\xff`, "stage": name, "direction": "in"})
			if assert.NotNil(t, m, "items_total{pipeline=etl_\\xff,stage=%s}", name) {
				assert.Equal(t, 3.0, m.GetCounter().GetValue())
			}
		}
	}
	assert.Equal(t, []string{`etl_\xff`}, logged(logs, "pipeline name is not valid UTF-8: exported escaped", "pipeline"))
	assert.ElementsMatch(t, []string{`double_\xff`, `double_\xfe`},
		logged(logs, "stage name is not valid UTF-8: exported escaped", "stage"), "each logged once, in 2 scrapes")
}

func TestStageNamesThatMeetOnceEscapedKeepTheirOwnSeries(t *testing.T) {
	c := promstats.NewCollector("etl", nil)
	c.WatchRun(func() stats.Report {
		return stats.NewReport(time.Second, []stats.StageReport{
			{Index: 0, Name: `a\xff`, Role: stats.RoleSource, In: 1},
			{Index: 1, Name: "a\xff", Role: stats.RoleStage, In: 2}, // escapes to the name before it
			{Index: 2, Name: "b", Role: stats.RoleStage, In: 3},
			{Index: 3, Name: "b", Role: stats.RoleStage, In: 4},
			{Index: 4, Name: "b#3", Role: stats.RoleStage, In: 5}, // the label of the stage before it
			{Index: 5, Name: "", Role: stats.RoleSink, In: 6},
		})
	})
	prom := prometheus.NewRegistry()
	prom.MustRegister(c)
	fams, err := prom.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	for stage, want := range map[string]float64{`a\xff#0`: 1, `a\xff#1`: 2, "b#2": 3, "b#3": 4, "": 6} {
		m := sample(byName, "conveyor_stage_items_total", map[string]string{"stage": stage, "direction": "in"})
		if assert.NotNil(t, m, "items_total{stage=%s}", stage) {
			assert.Equal(t, want, m.GetCounter().GetValue())
		}
	}
	assert.Len(t, byName["conveyor_stage_items_total"].GetMetric(), 2*5, "the stage whose label is taken is left out, not the scrape")
}

func TestANilLoggerLogsNothing(t *testing.T) {
	reg := stats.New()
	reg.Add("country_\xff", 1)
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("etl_\xff", reg, promstats.WithLogger(nil), nil))
	srv := httptest.NewServer(promstats.Handler(prom, promstats.WithLogger(nil), nil))
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()
	fams := scrape(t, srv.Client(), srv.URL+"/metrics")
	assert.NotNil(t, sample(fams, "conveyor_stat", map[string]string{"pipeline": `etl_\xff`, "stat": `country_\xff`}))
}
