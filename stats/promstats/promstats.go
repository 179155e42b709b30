// Package promstats exposes pipeline runs to Prometheus: the per-stage
// metrics every run keeps, and the user's stats Registry.
//
//	prom := prometheus.NewRegistry()
//	c := promstats.NewCollector("sample", reg) // reg may be nil
//	prom.MustRegister(c)
//	p := pipeline.New(src, pipeline.WithWatcher(c))
//	http.Handle("/metrics", promstats.Handler(prom)) // opt-in: mount it yourself
//
// Per stage, with labels pipeline and stage (the stage's name, followed by
// "#" and its position when two stages share a name):
//
//	conveyor_stage_items_total{direction="in"|"out"}  counter
//	conveyor_stage_errors_total                       counter: items failed for good
//	conveyor_stage_skipped_total                      counter: of those, skipped or dead-lettered
//	conveyor_stage_retries_total                      counter
//	conveyor_stage_latency_seconds                    histogram of the time per item
//	conveyor_stage_busy_seconds_total                 counter, and _idle_ and _backpressured_
//	conveyor_stage_queue_depth{queue="in"|"out"}      gauge: mean items waiting (ParMap)
//
// The metrics are those of the latest run the Collector watches, read at
// every scrape; a new run starts its counters again from zero, which
// Prometheus reads as a counter reset. Each counter of the Registry is a
// sample of the gauge conveyor_stat, with label stat (its name), and the
// Registry's clock is conveyor_stats_elapsed_seconds.
package promstats

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conveyor-go/conveyor/stats"
)

// Collector is a prometheus.Collector of a pipeline's runs and of its
// stats Registry.
type Collector struct {
	reg  *stats.Registry
	live atomic.Pointer[func() stats.Report]

	stat, elapsed                         *prometheus.Desc
	items, errors, skipped, retries       *prometheus.Desc
	latency, busy, idle, backpress, depth *prometheus.Desc
}

var (
	_ prometheus.Collector = (*Collector)(nil)
	_ stats.Watcher        = (*Collector)(nil)
)

// NewCollector returns a Collector labelled pipeline=name, of the Registry
// reg (nil for none) and of the runs it is given with pipeline.WithWatcher.
func NewCollector(name string, reg *stats.Registry) *Collector {
	labels := prometheus.Labels{"pipeline": name}
	stage := func(metric, help string, more ...string) *prometheus.Desc {
		return prometheus.NewDesc("conveyor_stage_"+metric, help, append([]string{"stage"}, more...), labels)
	}
	return &Collector{
		reg: reg,
		stat: prometheus.NewDesc("conveyor_stat",
			"A counter of the pipeline's stats registry, by name (the seed's stats).", []string{"stat"}, labels),
		elapsed: prometheus.NewDesc("conveyor_stats_elapsed_seconds",
			"Time since the pipeline's stats registry was made.", nil, labels),
		items:     stage("items_total", "Items into (direction=in) and out of (out) the stage.", "direction"),
		errors:    stage("errors_total", "Items that failed for good in the stage."),
		skipped:   stage("skipped_total", "Items that failed in the stage and were skipped or dead-lettered."),
		retries:   stage("retries_total", "Extra attempts the stage's retry policy made."),
		latency:   stage("latency_seconds", "Time the stage spent per item."),
		busy:      stage("busy_seconds_total", "Time the stage spent in its own and the user's code, summed over its workers."),
		idle:      stage("idle_seconds_total", "Time the stage waited for items, summed over its workers."),
		backpress: stage("backpressured_seconds_total", "Time the stage waited for the stages after it, summed over its workers."),
		depth:     stage("queue_depth", "Mean items waiting in the stage's input (queue=in) and output (out) buffers.", "queue"),
	}
}

// WatchRun makes the Collector report the run whose report live reads. It
// is called by the pipeline when a run starts (pipeline.WithWatcher).
func (c *Collector) WatchRun(live func() stats.Report) { c.live.Store(&live) }

// Describe sends the descriptions of the Collector's metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.stat, c.elapsed, c.items, c.errors, c.skipped, c.retries,
		c.latency, c.busy, c.idle, c.backpress, c.depth} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.reg != nil {
		for name, v := range c.reg.Snapshot() {
			ch <- prometheus.MustNewConstMetric(c.stat, prometheus.GaugeValue, float64(v), name)
		}
		ch <- prometheus.MustNewConstMetric(c.elapsed, prometheus.GaugeValue, c.reg.Elapsed().Seconds())
	}
	if live := c.live.Load(); live != nil {
		c.collectStages((*live)(), ch)
	}
}

func (c *Collector) collectStages(r stats.Report, ch chan<- prometheus.Metric) {
	names := stageLabels(r.Stages)
	for i, s := range r.Stages {
		name := names[i]
		counter := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{name}, labels...)...)
		}
		counter(c.items, float64(s.In), "in")
		counter(c.items, float64(s.Out), "out")
		counter(c.errors, float64(s.Errors))
		counter(c.skipped, float64(s.Skipped))
		counter(c.retries, float64(s.Retries))
		counter(c.busy, s.BusyTime.Seconds())
		counter(c.idle, s.IdleTime.Seconds())
		counter(c.backpress, s.BackpressTime.Seconds())
		if s.Role != stats.RoleSource {
			buckets := make(map[float64]uint64, len(s.Latency.Below))
			for b, n := range s.Latency.Below {
				buckets[s.Latency.Bound(b).Seconds()] = n
			}
			ch <- prometheus.MustNewConstHistogram(c.latency, s.Latency.Count, s.Latency.Sum.Seconds(), buckets, name)
		}
		if q := s.Queue; q != nil {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, q.InMean, name, "in")
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, q.OutMean, name, "out")
		}
	}
}

// stageLabels returns the stage label of each stage: its name, made unique
// with "#" and its position where names repeat.
func stageLabels(stages []stats.StageReport) []string {
	seen := map[string]int{}
	for _, s := range stages {
		seen[s.Name]++
	}
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.Name
		if seen[s.Name] > 1 {
			out[i] = s.Name + "#" + strconv.Itoa(s.Index)
		}
	}
	return out
}

// Handler returns the /metrics handler of g, in Prometheus's text format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
