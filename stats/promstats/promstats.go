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
//
// # Bounds
//
// A Registry whose names come from data can hold millions of counters. A
// Collector exports at most DefaultMaxStats (10,000) of them, or as many as
// MaxStats says; the gauge conveyor_stats_dropped counts the others, and
// the Collector logs once how many it left out. A scrape then costs about
// the same whatever the Registry holds, but for one that finds new names
// while there is room, which walks them all. With 1,000,000 names
// (BenchmarkScrapeMillionStats, on 2 shared cores): 10,002 series and
// 0.54 MiB in 26 to 61 ms per scrape, the first, which picks the names, in
// 0.3 to 0.5 s; exporting them all made 1,000,001 series and 54 MiB in 8.5 s.
//
// # Names
//
// Prometheus takes label values of valid UTF-8 only. A stat, stage or
// pipeline name that is not is exported escaped: each byte outside a valid
// UTF-8 sequence is written \xNN and, in such a name only, each backslash
// is doubled (the name "country_\xff", whose last byte is 0xff, is exported
// as the 12 characters country_\xff), so no two such names escape alike;
// the Collector logs each name it escaped at most once. A stat whose
// escaped name is that of a stat already exported is left out and counted
// as dropped, and so is a stage whose label, made unique with "#", is still
// another stage's. No name fails a scrape, and no error shows a client more
// than that some metrics are missing (see Handler).
package promstats

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/stats"
)

// Collector is a prometheus.Collector of a pipeline's runs and of its
// stats Registry.
type Collector struct {
	stats  *statSet // nil without a Registry
	reg    *stats.Registry
	live   atomic.Pointer[func() stats.Report]
	log    *zap.Logger
	logged onceSet // the bad stage names and metrics logged

	stat, elapsed, dropped                *prometheus.Desc
	items, errors, skipped, retries       *prometheus.Desc
	latency, busy, idle, backpress, depth *prometheus.Desc
}

var (
	_ prometheus.Collector = (*Collector)(nil)
	_ stats.Watcher        = (*Collector)(nil)
)

// NewCollector returns a Collector labelled pipeline=name, of the Registry
// reg (nil for none) and of the runs it is given with pipeline.WithWatcher.
// A name that is not valid UTF-8 is escaped (see the package doc).
func NewCollector(name string, reg *stats.Registry, opts ...Option) *Collector {
	cfg := newConfig(opts)
	label, escaped := escape(name)
	if escaped {
		cfg.log.Warn("pipeline name is not valid UTF-8: exported escaped", zap.String("pipeline", label))
	}
	labels := prometheus.Labels{"pipeline": label}
	stage := func(metric, help string, more ...string) *prometheus.Desc {
		return prometheus.NewDesc("conveyor_stage_"+metric, help, append([]string{"stage"}, more...), labels)
	}
	c := &Collector{
		reg: reg,
		log: cfg.log,
		stat: prometheus.NewDesc("conveyor_stat",
			"A counter of the pipeline's stats registry, by name (the seed's stats).", []string{"stat"}, labels),
		elapsed: prometheus.NewDesc("conveyor_stats_elapsed_seconds",
			"Time since the pipeline's stats registry was made.", nil, labels),
		dropped: prometheus.NewDesc("conveyor_stats_dropped",
			"Counters of the pipeline's stats registry not exported: past the cap, or escaped to a name taken.", nil, labels),
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
	if reg != nil {
		c.stats = newStatSet(reg, cfg.maxStats, cfg.log)
	}
	return c
}

// WatchRun makes the Collector report the run whose report live reads. It
// is called by the pipeline when a run starts (pipeline.WithWatcher).
func (c *Collector) WatchRun(live func() stats.Report) { c.live.Store(&live) }

// Describe sends the descriptions of the Collector's metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.stat, c.elapsed, c.dropped, c.items, c.errors, c.skipped, c.retries,
		c.latency, c.busy, c.idle, c.backpress, c.depth} {
		ch <- d
	}
}

// Collect sends the current values. It never sends an invalid metric, so
// it never fails a scrape: with a Registry of n counters it costs O(n) at a
// scrape that finds new ones while there is room under the cap, O(cap)
// otherwise.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	send := c.sender(ch)
	if c.stats != nil {
		out, dropped := c.stats.read()
		for _, s := range out {
			send(prometheus.NewConstMetric(c.stat, prometheus.GaugeValue, float64(s.c.Load()), s.label))
		}
		send(prometheus.NewConstMetric(c.dropped, prometheus.GaugeValue, float64(dropped)))
		send(prometheus.NewConstMetric(c.elapsed, prometheus.GaugeValue, c.reg.Elapsed().Seconds()))
	}
	if live := c.live.Load(); live != nil {
		c.collectStages((*live)(), send)
	}
}

// sender returns a function that sends a metric made without error to ch, and
// logs, once each, the errors of the others: the Collector escapes every
// label value, so this is a last guard, where prometheus.MustNewConstMetric
// would panic and fail the scrape.
func (c *Collector) sender(ch chan<- prometheus.Metric) func(prometheus.Metric, error) {
	return func(m prometheus.Metric, err error) {
		if err != nil {
			if c.logged.first("error\x00" + err.Error()) {
				c.log.Error("metric not exported", zap.Error(err))
			}
			return
		}
		ch <- m
	}
}
