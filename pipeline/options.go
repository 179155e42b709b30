package pipeline

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stats"
	"go.uber.org/zap"
)

// Option configures a pipeline's runs; pass options to New.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	logger    *zap.Logger
	policy    stage.Policy
	stats     *stats.Registry
	stop      <-chan os.Signal
	signals   []os.Signal
	onExit    []func(ExitStatus)
	progress  *stats.Progress
	unmetered bool
	report    io.Writer
	watchers  []stats.Watcher
	budget    flow.Budget
	errs      []error // misuse of an option, reported by Run as invalid
}

func newConfig(opts []Option) config {
	c := config{logger: zap.NewNop(), policy: stage.FailFast(), budget: defaultBudget()}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithLogger sets the logger that stages log to: each stage gets a child
// named after it, and ParMap workers one named "worker-N" below that. The
// default is a no-op logger; nil also means no-op.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			l = zap.NewNop()
		}
		c.logger = l
	})
}

// OnError sets the error policy of every stage that does not set its own
// with stage.OnError. The default is stage.FailFast, as in the seed.
func OnError(p stage.Policy) Option {
	return optionFunc(func(c *config) { c.policy = p })
}

// WithProgress shows the run's progress with p (see stats.NewProgress): a
// bar on a terminal, log lines elsewhere. p starts with the run and stops,
// with a last report, when it ends, however it ends; the run's logger is
// wrapped so that its lines do not break the bar. The run's counts are then
// kept current at every item, at the cost of an atomic operation per item.
func WithProgress(p *stats.Progress) Option {
	return optionFunc(func(c *config) { c.progress = p })
}

// WithStats puts the final snapshot of reg in ExitStatus.Stats. Sources and
// handlers use reg directly (it is plain Go shared state), and stats.Sink
// merges per-item deltas into it.
func WithStats(reg *stats.Registry) Option {
	return optionFunc(func(c *config) { c.stats = reg })
}

// WithSignals makes Run handle the given signals, by default SIGINT and
// SIGTERM: the first drains the pipeline (the source stops, items already
// emitted finish), a second stops it hard (in-flight items are abandoned).
// Either way the ExitStatus code is 128 + the signal's number (130 for
// SIGINT). Signal handling stops when Run returns. A nil signal makes the
// pipeline invalid (code 2).
func WithSignals(sigs ...os.Signal) Option {
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	for i, s := range sigs {
		if s == nil {
			// os/signal ignores a nil signal in Notify but loops for ever
			// over it in Stop.
			return optionFunc(func(c *config) {
				c.errs = append(c.errs, &flow.BuildError{Reason: fmt.Sprintf("WithSignals: signal %d is nil", i)})
			})
		}
	}
	return optionFunc(func(c *config) { c.signals, c.stop = sigs, nil })
}

// WithStopChannel is WithSignals for signals the caller receives itself, or
// makes up (tests): the first value on ch drains the run, a second stops it
// hard.
func WithStopChannel(ch <-chan os.Signal) Option {
	return optionFunc(func(c *config) { c.stop, c.signals = ch, nil })
}

// OnExit registers f to be called with the final ExitStatus when Run
// returns (the seed's exit listeners), in registration order, on the
// goroutine that called Run.
func OnExit(f func(ExitStatus)) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.onExit = append(c.onExit, f)
		}
	})
}

// WithReport writes the run's report (ExitStatus.Report) to w as a table
// when the run ends: a row per stage with its throughput, latency and the
// shares of its time spent busy, idle and backpressured, and the verdict
// naming the bottleneck. A line after the table says how many goroutines
// the run left behind, if any (ExitStatus.LeftBehind).
func WithReport(w io.Writer) Option {
	return optionFunc(func(c *config) { c.report = w })
}

// WithWatcher hands w, when a run starts, a function that reads the run's
// report while it goes (promstats.Collector exports it to Prometheus).
func WithWatcher(w stats.Watcher) Option {
	return optionFunc(func(c *config) {
		if w != nil {
			c.watchers = append(c.watchers, w)
		}
	})
}

// WithoutMetrics turns off the per-stage metrics that every run keeps by
// default (ExitStatus.Report is then empty). They cost a few percent on the
// cheapest fused stages (4% on a Map of a few nanoseconds per item) and
// nothing measurable on anything slower; see the README for the figures.
func WithoutMetrics() Option {
	return optionFunc(func(c *config) { c.unmetered = true })
}
