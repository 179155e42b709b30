package stats

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapcoreFor returns the core of the default logger of a Progress: console
// lines on w.
func zapcoreFor(w io.Writer) zapcore.Core {
	enc := zap.NewDevelopmentEncoderConfig()
	return zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), zap.InfoLevel)
}

// WrapLogger returns l with its lines kept apart from the bar: while the
// bar is drawn, each log line first clears the bar's line, and the bar is
// drawn again at the next report, below it. Without a bar it returns l.
// pipeline.WithProgress wraps the run's logger so.
func (p *Progress) WrapLogger(l *zap.Logger) *zap.Logger {
	if !p.terminal {
		return l
	}
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &barSafeCore{Core: c, p: p} }))
}

type barSafeCore struct {
	zapcore.Core
	p *Progress
}

func (c *barSafeCore) With(fields []zapcore.Field) zapcore.Core {
	return &barSafeCore{Core: c.Core.With(fields), p: c.p}
}

func (c *barSafeCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *barSafeCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.p.bar != nil {
		_ = c.p.bar.Clear()
	}
	return c.Core.Write(e, fields)
}
