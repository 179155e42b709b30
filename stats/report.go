package stats

import (
	"encoding/json"
	"time"
)

// Report says, stage by stage, what a pipeline run did and where its time
// went, and names the stage that held the run back. A run fills one in as it
// goes (pipeline.WithWatcher reads it live) and puts the final one in its
// ExitStatus. It prints as a table (WriteTable) and marshals to JSON.
type Report struct {
	Elapsed time.Duration `json:"elapsed_ns"`
	Stages  []StageReport `json:"stages"`
	Verdict Verdict       `json:"verdict"`
}

// Roles of the stages in a report.
const (
	RoleSource = "source"
	RoleStage  = "stage"
	RoleSink   = "sink"
)

// StageReport is one stage's line in a Report.
//
// Its time splits into Busy (in the stage's own code and the user's),
// Backpressured (handing items on while the stage after it was busy or
// full) and Idle (waiting for items), as shares of Wall that add up to about
// 1. A stage that runs in the goroutine of the stage before it (Map, Filter,
// a sink, ...) has one goroutine's worth of time, from the run's start to the
// end of its input; a stage with goroutines of its own (ParMap) has the sum
// of its workers' lifetimes.
type StageReport struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	// Workers is the stage's own goroutines (ParMap's workers), or 0 for a
	// stage that runs in the goroutine before it.
	Workers int `json:"workers"`

	In      int64 `json:"in"`
	Out     int64 `json:"out"`
	Errors  int64 `json:"errors"`  // items that failed for good in this stage
	Skipped int64 `json:"skipped"` // of those, the ones skipped or dead-lettered
	Retries int64 `json:"retries"` // extra attempts
	// Rate is Out per second of the time from the run's start to the
	// stage's last output.
	Rate float64 `json:"items_per_second"`

	// Latency is the time the stage spent per item, measured per run of
	// items: exact for items that take long, a mean over the run for cheap
	// items that travel together. Sequential stages time a sample of their
	// runs (every run once they take 20 µs or more).
	Latency Latency `json:"latency"`

	Wall          time.Duration `json:"wall_ns"`
	Busy          float64       `json:"busy"`
	Idle          float64       `json:"idle"`
	Backpressured float64       `json:"backpressured"`
	BusyTime      time.Duration `json:"busy_ns"`
	IdleTime      time.Duration `json:"idle_ns"`
	BackpressTime time.Duration `json:"backpressured_ns"`

	// Queue is the depth of a concurrent stage's buffers, sampled as chunks
	// come and go; nil for stages without one.
	Queue *Queue `json:"queue,omitempty"`
}

// Latency sums up a stage's latency histogram.
type Latency struct {
	Count uint64        `json:"count"` // items timed
	Sum   time.Duration `json:"sum_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
	// Below[i] counts the items timed below 2^(10+i) ns (1.024 µs, 2.048
	// µs, ...): the histogram's buckets, for Prometheus.
	Below []uint64 `json:"-"`
}

// Bound returns the upper bound of Below[i].
func (Latency) Bound(i int) time.Duration { return time.Duration(1) << (10 + i) }

// Queue is the depth, in items, of a stage's input and output buffers.
type Queue struct {
	InMean  float64 `json:"in_mean"`
	InMax   int64   `json:"in_max"`
	OutMean float64 `json:"out_mean"`
	OutMax  int64   `json:"out_max"`
}

// Verdict names the stage that limits a run, with what to try.
type Verdict struct {
	// Stage is the bottleneck's name, empty when no stage was busy most of
	// its time; Index is its position in the chain (-1 when none).
	Stage string `json:"stage"`
	Index int    `json:"index"`
	Text  string `json:"text"`
}

// NewReport returns the report of a run's stages, with its verdict.
func NewReport(elapsed time.Duration, stages []StageReport) Report {
	return Report{Elapsed: elapsed, Stages: stages, Verdict: judge(stages)}
}

// JSON returns the report as indented JSON.
func (r Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// Watcher is given, when a run starts, a function that returns the run's
// report so far (promstats.Collector is one). live is safe to call from any
// goroutine, during the run and after it.
type Watcher interface {
	WatchRun(live func() Report)
}
