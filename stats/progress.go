package stats

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// Progress shows how far a run has got while it goes: the source items
// settled (done, skipped, dropped, failed), out of a total when one is
// known, with the rate and, given a total, the time left. On a terminal it
// draws a progress bar; elsewhere it writes a log line every Every.
//
// Give it to a pipeline with pipeline.WithProgress, which starts it when
// the run starts and stops it, with a last report, when the run ends,
// however it ends. Runs that overlap share it: it shows the sum of their
// items, and makes its last report when the last of them ends.
type Progress struct {
	w        io.Writer
	total    func() int64
	every    time.Duration
	terminal bool
	logger   *zap.Logger

	mu  sync.Mutex // serializes drawing with the log lines of WrapLogger
	bar *progressbar.ProgressBar
	cur *showing // nil when no run is going
}

// showing is what a Progress shows from the Start of a first run to the
// Stop of the last of the runs that overlap it.
type showing struct {
	start  time.Time
	bar    *progressbar.ProgressBar
	runs   []func() int64 // the done of each run, ended ones included
	active int            // the runs not stopped yet
	stop   chan struct{}
	wg     sync.WaitGroup
}

// ProgressOption configures a Progress.
type ProgressOption func(*Progress)

// ProgressTotal sets where the total comes from: total is called at each
// report, so a generator may set it once it knows (the seed's items_total,
// as reg.Get("items_total")). A total of 0 or less means not known yet.
func ProgressTotal(total func() int64) ProgressOption {
	return func(p *Progress) {
		if total != nil {
			p.total = total
		}
	}
}

// ProgressEvery sets how often Progress reports. Default: 100ms for the
// bar, 5s for log lines.
func ProgressEvery(d time.Duration) ProgressOption {
	return func(p *Progress) { p.every = d }
}

// ProgressTerminal forces the bar (true) or log lines (false), instead of
// looking at whether the writer is a terminal.
func ProgressTerminal(bar bool) ProgressOption {
	return func(p *Progress) { p.terminal = bar }
}

// ProgressLogger sets the logger of the log lines. Default: a logger that
// writes to the Progress's writer.
func ProgressLogger(l *zap.Logger) ProgressOption {
	return func(p *Progress) { p.logger = l }
}

// NewProgress returns a Progress that writes to w: a bar when w is a
// terminal, log lines otherwise. A nil w writes nothing itself: the log
// lines go only to the logger given with ProgressLogger, if any.
func NewProgress(w io.Writer, opts ...ProgressOption) *Progress {
	if w == nil {
		w = io.Discard
	}
	p := &Progress{w: w, total: func() int64 { return 0 }}
	if f, ok := w.(*os.File); ok {
		p.terminal = term.IsTerminal(int(f.Fd()))
	}
	for _, o := range opts {
		o(p)
	}
	if p.every <= 0 {
		p.every = 5 * time.Second
		if p.terminal {
			p.every = 100 * time.Millisecond
		}
	}
	if p.logger == nil {
		p.logger = zap.New(zapcoreFor(w))
	}
	return p
}

// Start begins reporting done, the count of source items settled so far.
// The pipeline calls it. While other runs are shown, done is added to
// theirs.
func (p *Progress) Start(done func() int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sh := p.cur; sh != nil {
		sh.runs = append(sh.runs, done)
		sh.active++
		return
	}
	sh := &showing{start: time.Now(), runs: []func() int64{done}, active: 1, stop: make(chan struct{})}
	if p.terminal {
		sh.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("items"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("items"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(0),
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
	}
	p.cur, p.bar = sh, sh.bar
	sh.wg.Go(func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.report(sh, false)
			case <-sh.stop:
				return
			}
		}
	})
}

// Stop ends the reports with a last one, once every run started has
// stopped. The pipeline calls it when the run has ended.
func (p *Progress) Stop() {
	p.mu.Lock()
	sh := p.cur
	if sh == nil { // a Stop without a Start
		p.mu.Unlock()
		return
	}
	sh.active--
	if sh.active > 0 {
		p.mu.Unlock()
		return
	}
	// A run started from now on begins a new showing; this one ends here.
	p.cur = nil
	p.mu.Unlock()
	close(sh.stop)
	sh.wg.Wait()
	p.report(sh, true)
}

// report draws sh's bar or writes a log line; last ends the bar's line.
func (p *Progress) report(sh *showing, last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var done int64
	for _, d := range sh.runs {
		done += d()
	}
	total := p.total()
	if sh.bar != nil {
		if total > 0 && sh.bar.GetMax64() != total {
			sh.bar.ChangeMax64(total)
		}
		_ = sh.bar.Set64(done)
		if last {
			fmt.Fprintln(p.w)
		}
		return
	}
	elapsed := time.Since(sh.start)
	rate := float64(done) / elapsed.Seconds()
	fields := []zap.Field{zap.Int64("done", done), zap.Float64("items_per_s", rate)}
	if total > 0 {
		fields = append(fields, zap.Int64("total", total))
		if rate > 0 && done < total {
			fields = append(fields, zap.Duration("eta", time.Duration(float64(total-done)/rate*float64(time.Second))))
		}
	}
	msg := "progress"
	if last {
		msg = "progress: finished"
	}
	p.logger.Info(msg, fields...)
}
