package stage

import (
	"context"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
	"go.uber.org/zap"
)

// Log writes one info line per item (or per n items with Every) to the
// pipeline's logger, named after the stage, and passes the item on
// unchanged: the seed's "batch_done. item: 3 / 50 time spent: 1.2s". The
// line carries the item's label (see Label) and the time since the run
// started. It runs in the goroutine before it; with the default no-op logger
// it costs a counter increment per item.
func Log[T any](msg string, opts ...Option) *Of[T, T] {
	return logStage[T](msg, opts, NextOf[T])
}

func logStage[T any](msg string, opts []Option, nx func() Next) *Of[T, T] {
	o := collect("log", opts)
	if o.err != "" {
		return invalidStage[T, T](o.name, o.err)
	}
	return newOf[T, T](o.name, nx, func(sc *flow.Scope, down flow.Port[T]) (flow.Port[T], error) {
		g, err := guard[T](sc, o)
		if err != nil {
			return nil, err
		}
		l := sc.Logger
		if !l.Core().Enabled(zap.InfoLevel) {
			return down, nil // nothing would be written: fuse the stage away
		}
		return &logPort[T]{g: g, msg: msg, every: int64(o.every), log: l, start: sc.Run.Start, down: down}, nil
	})
}

type logPort[T any] struct {
	g     *flow.Guard[T]
	msg   string
	every int64
	log   *zap.Logger
	start time.Time
	down  flow.Port[T]
	n     int64
}

func (l *logPort[T]) Push(ctx context.Context, v T, t flow.Tag) error {
	idx := l.n
	l.n++
	if idx%l.every == 0 {
		l.log.Info(l.msg, zap.String("item", l.g.Label(idx, v)), zap.Duration("time spent", time.Since(l.start)))
	}
	return l.down.Push(ctx, v, t)
}

func (l *logPort[T]) Close(ctx context.Context) error { return l.down.Close(ctx) }
