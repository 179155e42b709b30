package promstats_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stats"
	"github.com/conveyor-go/conveyor/stats/promstats"
)

// panicky is a user's collector that panics in Collect, after sending one
// good metric.
type panicky struct{ desc *prometheus.Desc }

func newPanicky() panicky {
	return panicky{prometheus.NewDesc("user_metric", "A user's metric.", nil, nil)}
}

func (p panicky) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p panicky) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, 1)
	panic("the user's collector is broken")
}

// unlucky is a user's collector whose only metric is invalid.
type unlucky struct{ desc *prometheus.Desc }

func (u unlucky) Describe(ch chan<- *prometheus.Desc) { ch <- u.desc }

func (u unlucky) Collect(ch chan<- prometheus.Metric) {
	panic("nothing to serve")
}

// fetch GETs url and returns the status and the body, whatever they are.
func fetch(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// assertNoInternals checks that body shows no Go stack trace or source path.
func assertNoInternals(t *testing.T, body string) {
	t.Helper()
	for _, leak := range []string{"goroutine ", ".go:", "/src/", "panic"} {
		assert.False(t, strings.Contains(body, leak), "the body shows no stack trace or source path, found %q in:\n%.300s", leak, body)
	}
}

func TestNoStackTraceReachesAClient(t *testing.T) {
	reg := stats.New()
	reg.Add("country_\xff", 1)
	reg.Add("country_fr", 2)

	t.Run("a bad stat name and a user's collector that panics: the rest is served", func(t *testing.T) {
		log, logs := observed()
		prom := prometheus.NewRegistry()
		prom.MustRegister(promstats.NewCollector("sample", reg), newPanicky())
		srv := httptest.NewServer(promstats.Handler(prom, promstats.WithLogger(log)))
		defer srv.Close()
		defer srv.Client().CloseIdleConnections()

		code, body := fetch(t, srv.Client(), srv.URL+"/metrics")
		assertNoInternals(t, body)
		assert.Equal(t, http.StatusOK, code, "one bad metric does not fail the scrape")
		assert.Contains(t, body, `stat="country_fr"} 2`)
		assert.Contains(t, body, "user_metric 1", "what the broken collector sent before it panicked")

		// The server's log has the whole story, once a scrape.
		lines := logs.FilterMessage("gathering metrics").All()
		require.Len(t, lines, 1)
		err, _ := lines[0].ContextMap()["error"].(string)
		assert.Contains(t, err, "the user's collector is broken")
		assert.Contains(t, err, "goroutine ", "the stack trace is logged")
		assert.Equal(t, 1, logs.Len(), "the error is logged once: %v", logs.All())
	})
	t.Run("nothing left to serve: an error without internals", func(t *testing.T) {
		prom := prometheus.NewRegistry()
		prom.MustRegister(unlucky{prometheus.NewDesc("unlucky", "Never served.", nil, nil)})
		srv := httptest.NewServer(promstats.Handler(prom))
		defer srv.Close()
		defer srv.Client().CloseIdleConnections()

		code, body := fetch(t, srv.Client(), srv.URL+"/metrics")
		assertNoInternals(t, body)
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Contains(t, body, "some metrics could not be gathered; the server's log says why")
	})
}
