package promstats

import "go.uber.org/zap"

// Option configures a Collector made with NewCollector.
type Option interface{ apply(*config) }

// HandlerOption configures the handler made with Handler.
type HandlerOption interface{ applyHandler(*handlerConfig) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	log      *zap.Logger
	maxStats int
}

type handlerConfig struct {
	log *zap.Logger
}

// DefaultMaxStats is the most counters of a Registry a Collector exports
// unless MaxStats says otherwise.
const DefaultMaxStats = 10_000

func newConfig(opts []Option) config {
	c := config{log: zap.NewNop(), maxStats: DefaultMaxStats}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

func newHandlerConfig(opts []HandlerOption) handlerConfig {
	c := handlerConfig{log: zap.NewNop()}
	for _, o := range opts {
		if o != nil {
			o.applyHandler(&c)
		}
	}
	return c
}

// MaxStats sets the most counters of the Registry the Collector exports,
// DefaultMaxStats by default; n <= 0 exports none. The rest are left out
// and counted by the gauge conveyor_stats_dropped, and the Collector logs
// once how many it left out.
//
// Which counters are exported is settled at the scrapes: the counters a
// scrape finds go in while there is room, the first by name when more are
// new than there is room for; once in, a counter stays in.
func MaxStats(n int) Option {
	return optionFunc(func(c *config) { c.maxStats = max(n, 0) })
}

// LoggerOption is the option WithLogger returns: an Option of a Collector
// and a HandlerOption of Handler alike.
type LoggerOption struct{ log *zap.Logger }

var (
	_ Option        = LoggerOption{}
	_ HandlerOption = LoggerOption{}
)

func (o LoggerOption) apply(c *config)               { c.log = o.log }
func (o LoggerOption) applyHandler(c *handlerConfig) { c.log = o.log }

// WithLogger sets the logger a Collector tells, once each, the names it
// escaped or left out, and the one Handler tells why a scrape went wrong
// (the client is told no more than that something did). The default is a
// no-op logger; nil also means no-op.
func WithLogger(l *zap.Logger) LoggerOption {
	if l == nil {
		l = zap.NewNop()
	}
	return LoggerOption{log: l}
}
