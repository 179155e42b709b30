package promstats_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats/promstats"
)

// sample returns the metric of family name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if match {
			return m
		}
	}
	return nil
}

func TestStageMetricsAreScrapedDuringAndAfterARun(t *testing.T) {
	for _, workers := range []int{1, 3} {
		c := promstats.NewCollector("etl", nil)
		prom := prometheus.NewRegistry()
		prom.MustRegister(c)
		srv := httptest.NewServer(promstats.Handler(prom))
		client := srv.Client()

		const n = 600
		items := make([]int, n)
		for i := range items {
			items[i] = i
		}
		scraped := make(chan map[string]*dto.MetricFamily, 1)
		bad := errors.New("odd one out")
		seen := 0
		st := pipeline.New(source.Slice(items), pipeline.WithWatcher(c)).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { return v * 2, nil }, stage.Name("double"))).
			Via(stage.ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) {
				time.Sleep(50 * time.Microsecond)
				if v%200 == 0 { // source items 0, 100, ...
					return 0, bad
				}
				return v, nil
			}), stage.Name("slow"), stage.OnError(stage.Skip()))).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil })).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil })).
			Sink(sink.Func(func(context.Context, int) error {
				if seen++; seen == n/2 {
					// Halfway: the run is live; scrape it from here (with
					// no require: this is not the test's goroutine).
					fams, err := get(client, srv.URL+"/metrics")
					if err != nil {
						t.Error(err)
					}
					scraped <- fams
				}
				return nil
			})).Run(context.Background())
		require.True(t, st.OK(), st.Message)
		mid := <-scraped
		fams := scrape(t, client, srv.URL+"/metrics")
		client.CloseIdleConnections()
		srv.Close()

		in := sample(mid, "conveyor_stage_items_total", map[string]string{"pipeline": "etl", "stage": "sink", "direction": "in"})
		require.NotNil(t, in, "workers=%d: the sink's items in, mid-run", workers)
		assert.Less(t, in.GetCounter().GetValue(), float64(n), "mid-run, not every item is in yet")

		items1 := func(stage, dir string) float64 {
			m := sample(fams, "conveyor_stage_items_total", map[string]string{"stage": stage, "direction": dir})
			require.NotNil(t, m, "items_total{stage=%s,direction=%s}", stage, dir)
			return m.GetCounter().GetValue()
		}
		assert.Equal(t, float64(n), items1("slice", "out"))
		assert.Equal(t, float64(n), items1("double", "in"))
		assert.Equal(t, float64(n), items1("slow", "in"))
		assert.Equal(t, float64(n-n/100), items1("slow", "out"), "the skipped items do not go out")
		// Two stages named "map": each keeps its own series.
		assert.Equal(t, float64(n-n/100), items1("map#3", "in"))
		assert.Equal(t, float64(n-n/100), items1("map#4", "in"))
		assert.Equal(t, float64(n-n/100), items1("sink", "out"))

		errs := sample(fams, "conveyor_stage_errors_total", map[string]string{"stage": "slow"})
		require.NotNil(t, errs)
		assert.Equal(t, float64(n/100), errs.GetCounter().GetValue())
		skipped := sample(fams, "conveyor_stage_skipped_total", map[string]string{"stage": "slow"})
		assert.Equal(t, float64(n/100), skipped.GetCounter().GetValue())

		lat := sample(fams, "conveyor_stage_latency_seconds", map[string]string{"stage": "slow"})
		require.NotNil(t, lat)
		h := lat.GetHistogram()
		assert.Equal(t, dto.MetricType_HISTOGRAM, fams["conveyor_stage_latency_seconds"].GetType())
		assert.Positive(t, h.GetSampleCount())
		assert.GreaterOrEqual(t, h.GetSampleSum()/float64(h.GetSampleCount()), 50e-6, "a slow item takes its sleep at least")
		require.NotEmpty(t, h.GetBucket())
		last := h.GetBucket()[len(h.GetBucket())-1]
		assert.Equal(t, h.GetSampleCount(), last.GetCumulativeCount(), "the last bucket holds every item")

		busy := sample(fams, "conveyor_stage_busy_seconds_total", map[string]string{"stage": "slow"})
		assert.GreaterOrEqual(t, busy.GetCounter().GetValue(), float64(n)*50e-6, "busy for at least the sleeps")
		for _, name := range []string{"conveyor_stage_idle_seconds_total", "conveyor_stage_backpressured_seconds_total"} {
			assert.NotNil(t, sample(fams, name, map[string]string{"stage": "slow"}), name)
		}
		assert.NotNil(t, sample(fams, "conveyor_stage_queue_depth", map[string]string{"stage": "slow", "queue": "in"}))
		assert.Nil(t, sample(fams, "conveyor_stage_queue_depth", map[string]string{"stage": "double"}), "a Map has no queue")
	}
}
