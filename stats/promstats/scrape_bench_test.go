package promstats_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conveyor-go/conveyor/stats"
	"github.com/conveyor-go/conveyor/stats/promstats"
)

// BenchmarkScrapeMillionStats scrapes a Registry of 1e6 stat names, as a
// pipeline naming its stats after its data makes, and reports per scrape
// the series served and the body's size; ns/op is the time per scrape.
// The first scrape, which picks the stats to export, is not in ns/op: it
// is reported apart, as first-scrape-ms.
func BenchmarkScrapeMillionStats(b *testing.B) {
	reg := stats.New()
	for i := range 1_000_000 {
		reg.Add("country_"+strconv.Itoa(i), 1)
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(promstats.NewCollector("sample", reg))
	h := promstats.Handler(prom)
	scrape := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec
	}
	start := time.Now()
	scrape()
	first := time.Since(start)
	b.ResetTimer()
	var rec *httptest.ResponseRecorder
	for b.Loop() {
		rec = scrape()
	}
	b.StopTimer()
	if rec.Code != http.StatusOK {
		b.Fatalf("scrape: %d %.200s", rec.Code, rec.Body)
	}
	body := rec.Body.Bytes()
	series := 0
	for line := range bytes.Lines(body) {
		if len(line) > 0 && line[0] != '#' {
			series++
		}
	}
	b.ReportMetric(float64(series), "series/scrape")
	b.ReportMetric(float64(len(body)), "bytes/scrape")
	b.ReportMetric(float64(first.Milliseconds()), "first-scrape-ms")
}
