package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/stats"
	"go.uber.org/zap"
)

// Run runs the pipeline and returns how it ended. It blocks until every
// goroutine it started has exited, whatever happens.
//
// Before anything starts, Run checks the whole chain: each stage's input type
// against the previous stage's output type, each stage's options, and that
// there is a sink. Any problem gives CodeInvalid and a message naming the
// stages and types; nothing runs.
//
// Run honours ctx: cancelling it stops the run promptly (in-flight items are
// abandoned) with CodeFailure. A failure under the FailFast policy cancels
// the run the same way and reports the stage and item. With WithSignals or
// WithStopChannel, a first signal drains the run and a second stops it hard.
func (p *Pipeline) Run(ctx context.Context) ExitStatus {
	cfg := newConfig(p.opts)
	start := time.Now()
	if cfg.progress != nil {
		cfg.logger = cfg.progress.WrapLogger(cfg.logger)
	}
	run := flow.NewRun(cfg.logger, cfg.policy)
	run.Live = cfg.progress != nil
	run.Metered = !cfg.unmetered
	run.Budget = cfg.budget
	err := p.check()
	if len(cfg.errs) > 0 {
		err = errors.Join(append(cfg.errs, err)...)
	}
	if err == nil {
		if perr := cfg.policy.Validate(); perr != nil {
			err = &flow.BuildError{Reason: "error policy: " + perr.Error()}
		}
	}
	if err == nil {
		err = p.wire(run)
	}
	if err != nil {
		return finish(cfg, ExitStatus{
			Code: CodeInvalid, Err: err, Message: err.Error(),
			Duration: time.Since(start), Counts: countsOf(&run.Counts), Stats: snapshot(cfg),
		})
	}

	runCtx, hardStop := context.WithCancel(ctx)
	defer hardStop()
	run.Begin() // the time spent building is not the stages'
	stop := watch(runCtx, cfg, run, hardStop)
	for _, w := range cfg.watchers {
		w.WatchRun(func() stats.Report { return report(run) })
	}
	if cfg.progress != nil {
		cfg.progress.Start(run.Counts.Settled)
	}
	err = run.Execute(runCtx)
	if cfg.progress != nil {
		cfg.progress.Stop()
	}
	sig, hard := stop.stop()
	st := ExitStatus{Duration: time.Since(start), Counts: countsOf(&run.Counts), Stats: snapshot(cfg), LeftBehind: run.LeftBehind()}
	if run.Metered {
		st.Report = report(run)
	}
	cancelled := runCtx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
	st.ending(err, cancelled, sig, hard, run.Losses())
	if st.LeftBehind > 0 {
		st.Message += "; " + leftBehind(st.LeftBehind)
	}
	if cfg.report != nil && run.Metered {
		werr := st.Report.WriteTable(cfg.report)
		if werr == nil && st.LeftBehind > 0 {
			_, werr = fmt.Fprintln(cfg.report, leftBehind(st.LeftBehind))
		}
		if werr != nil {
			cfg.logger.Warn("writing the run's report", zap.Error(werr))
		}
	}
	return finish(cfg, st)
}

// ending sets the code, error and message of a run that ran: err is what
// the run's goroutines returned (cancelled: because the run's context was
// cancelled), sig the first stop signal, hard whether a second one came.
func (st *ExitStatus) ending(err error, cancelled bool, sig os.Signal, hard bool, losses []flow.StageLosses) {
	switch {
	case err != nil && !cancelled:
		st.Code, st.Err, st.Message = CodeFailure, err, err.Error()
		var fe *flow.Error
		if errors.As(err, &fe) {
			st.Stage, st.Target = fe.Stage, fe.Label
		}
	case sig != nil:
		st.Code = signalCode(sig)
		c := st.Counts
		switch {
		case hard:
			st.Message = fmt.Sprintf("Stopped hard by a second %v: the source emitted %d items, %d done, %d abandoned",
				sig, c.In, c.Done, c.Abandoned)
		case err != nil:
			// A drain cut short by a cancellation of ctx abandoned items: a
			// hard stop, though no second signal came.
			hard = true
			st.Message = fmt.Sprintf("Stopped hard: the drain after %v was cut short (%v); the source emitted %d items, %d done, %d abandoned",
				sig, err, c.In, c.Done, c.Abandoned)
		default:
			st.Message = fmt.Sprintf("Interrupted by %v: drained; the source emitted %d items, %d done", sig, c.In, c.Done)
		}
		st.Err = &SignalError{Signal: sig, Hard: hard}
	case err != nil:
		st.Code, st.Err, st.Message = CodeFailure, err, "Cancelled: "+err.Error()
	default:
		st.Code, st.Message = CodeSuccess, finished(st.Counts, losses)
	}
}

// leftBehind says that n goroutines outlive the run; the run's log names
// what each is blocked in.
func leftBehind(n int) string {
	if n == 1 {
		return "1 goroutine left behind, blocked in a source (see the log)"
	}
	return fmt.Sprintf("%d goroutines left behind, blocked in sources (see the log)", n)
}

func finish(cfg config, st ExitStatus) ExitStatus {
	for _, f := range cfg.onExit {
		f(st)
	}
	return st
}

func snapshot(cfg config) stats.Snapshot {
	if cfg.stats == nil {
		return nil
	}
	return cfg.stats.Snapshot()
}

// signalCode is the shell's exit code for a process stopped by sig.
func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}
