package stats

import (
	"context"

	"github.com/conveyor-go/conveyor/sink"
)

// Sink returns a sink that adds each item's Delta to reg: the seed's
// _reset_stats + inc_stats_vals, without a lock. Handlers return a fresh
// Delta per item (the seed's per-item stats dict); this sink merges them in
// the order they arrive. Like every sink it is called from one goroutine at
// a time. A nil reg makes a sink that reports so when the pipeline is built.
func Sink(reg *Registry) *sink.Of[Delta] {
	if reg == nil {
		return sink.Invalid[Delta]("stats", "nil registry")
	}
	return sink.Func(func(_ context.Context, d Delta) error {
		reg.AddAll(d)
		return nil
	}).Named("stats")
}
