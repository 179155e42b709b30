package promstats_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stats"
	"github.com/conveyor-go/conveyor/stats/promstats"
)

// scrape GETs url over HTTP and parses the exposition with the client
// library's parser.
func scrape(t *testing.T, c *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := get(c, url)
	require.NoError(t, err)
	return fams
}

func get(c *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// stat returns the value of conveyor_stat{stat=name}, and whether it is there.
func stat(fams map[string]*dto.MetricFamily, name string) (float64, bool) {
	f := fams["conveyor_stat"]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["stat"] == name && labels["pipeline"] == "sample" {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestTheRegistryIsScrapedOverHTTP(t *testing.T) {
	reg := stats.New()
	reg.SetTotal("items_total", 100)
	reg.Add("items_processed", 7)

	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg))
	srv := httptest.NewServer(promstats.Handler(prom)) // listens on 127.0.0.1
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()

	fams := scrape(t, client, srv.URL+"/metrics")
	v, ok := stat(fams, "items_processed")
	require.True(t, ok, "conveyor_stat{stat=items_processed} is exposed")
	assert.Equal(t, 7.0, v)
	v, ok = stat(fams, "items_total")
	require.True(t, ok)
	assert.Equal(t, 100.0, v)
	require.Contains(t, fams, "conveyor_stats_elapsed_seconds")
	assert.Equal(t, dto.MetricType_GAUGE, fams["conveyor_stat"].GetType())

	reg.Add("items_processed", 93)
	reg.Add("items_failed", 1)
	fams = scrape(t, client, srv.URL+"/metrics")
	v, _ = stat(fams, "items_processed")
	assert.Equal(t, 100.0, v, "each scrape reads the current value")
	v, ok = stat(fams, "items_failed")
	assert.True(t, ok, "a counter made after registration shows up")
	assert.Equal(t, 1.0, v)
}

func TestTwoPipelinesShareARegistry(t *testing.T) {
	a, b := stats.New(), stats.New()
	a.Add("n", 1)
	b.Add("n", 2)
	prom := prometheus.NewRegistry()
	require.NoError(t, prom.Register(promstats.NewCollector("a", a)))
	require.NoError(t, prom.Register(promstats.NewCollector("b", b)))
	fams, err := prom.Gather()
	require.NoError(t, err)
	var got []float64
	for _, f := range fams {
		if f.GetName() == "conveyor_stat" {
			for _, m := range f.GetMetric() {
				got = append(got, m.GetGauge().GetValue())
			}
		}
	}
	assert.ElementsMatch(t, []float64{1, 2}, got, "each pipeline's counter under its own label")
	assert.Error(t, prom.Register(promstats.NewCollector("a", stats.New())), "the same pipeline name twice is refused")
}
