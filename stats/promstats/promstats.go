// Package promstats exposes a pipeline's stats Registry to Prometheus.
//
//	prom := prometheus.NewRegistry()
//	prom.MustRegister(promstats.NewCollector("sample", reg))
//	http.Handle("/metrics", promstats.Handler(prom)) // opt-in: mount it yourself
//
// Each counter of the Registry is a sample of the gauge conveyor_stat, with
// labels pipeline and stat (its name), read at every scrape; the Registry's
// clock is conveyor_stats_elapsed_seconds.
package promstats

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conveyor-go/conveyor/stats"
)

// Collector is a prometheus.Collector of one stats Registry.
type Collector struct {
	reg     *stats.Registry
	stat    *prometheus.Desc
	elapsed *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of reg, labelled pipeline=name.
func NewCollector(name string, reg *stats.Registry) *Collector {
	labels := prometheus.Labels{"pipeline": name}
	return &Collector{
		reg: reg,
		stat: prometheus.NewDesc("conveyor_stat",
			"A counter of the pipeline's stats registry, by name (the seed's stats).", []string{"stat"}, labels),
		elapsed: prometheus.NewDesc("conveyor_stats_elapsed_seconds",
			"Time since the pipeline's stats registry was made.", nil, labels),
	}
}

// Describe sends the descriptions of the Collector's metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stat
	ch <- c.elapsed
}

// Collect sends the Registry's current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for name, v := range c.reg.Snapshot() {
		ch <- prometheus.MustNewConstMetric(c.stat, prometheus.GaugeValue, float64(v), name)
	}
	ch <- prometheus.MustNewConstMetric(c.elapsed, prometheus.GaugeValue, c.reg.Elapsed().Seconds())
}

// Handler returns the /metrics handler of g, in Prometheus's text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
