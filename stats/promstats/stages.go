package promstats

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/stats"
)

// collectStages sends the metrics of the stages of r with send.
func (c *Collector) collectStages(r stats.Report, send func(prometheus.Metric, error)) {
	names, left := c.stageLabels(r.Stages)
	for i, s := range r.Stages {
		if left[i] {
			continue // its label is another stage's: logged by stageLabels
		}
		name := names[i]
		counter := func(d *prometheus.Desc, v float64, labels ...string) {
			send(prometheus.NewConstMetric(d, prometheus.CounterValue, v, append([]string{name}, labels...)...))
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
			send(prometheus.NewConstHistogram(c.latency, s.Latency.Count, s.Latency.Sum.Seconds(), buckets, name))
		}
		if q := s.Queue; q != nil {
			send(prometheus.NewConstMetric(c.depth, prometheus.GaugeValue, q.InMean, name, "in"))
			send(prometheus.NewConstMetric(c.depth, prometheus.GaugeValue, q.OutMean, name, "out"))
		}
	}
}

// stageLabels returns the stage label of each stage: its name, escaped (see
// escape), made unique with "#" and its position where labels repeat. It
// marks left out a stage whose label is still another's (a stage named
// "map#3" beside two named "map"), which is not exported.
func (c *Collector) stageLabels(stages []stats.StageReport) (out []string, left []bool) {
	out, left = make([]string, len(stages)), make([]bool, len(stages))
	seen := map[string]int{}
	for i, s := range stages {
		label, escaped := escape(s.Name)
		if escaped && c.logged.first("stage\x00"+s.Name) {
			c.log.Warn("stage name is not valid UTF-8: exported escaped", zap.String("stage", label))
		}
		out[i] = label
		seen[label]++
	}
	taken := make(map[string]struct{}, len(stages))
	for i, s := range stages {
		if seen[out[i]] > 1 {
			out[i] += "#" + strconv.Itoa(s.Index)
		}
		if _, ok := taken[out[i]]; ok {
			if c.logged.first("taken\x00" + out[i]) {
				c.log.Warn("stage not exported: its label is another stage's", zap.String("stage", out[i]))
			}
			left[i] = true
			continue
		}
		taken[out[i]] = struct{}{}
	}
	return out, left
}
