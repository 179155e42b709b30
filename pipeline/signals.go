package pipeline

import (
	"context"
	"os"
	"os/signal"
	"sync"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/sourcegraph/conc"
	"go.uber.org/zap"
)

// stopper turns stop signals into a drain, then a hard stop, for one run.
type stopper struct {
	notify chan os.Signal // set when Run subscribed to OS signals itself
	done   chan struct{}
	wg     conc.WaitGroup

	mu   sync.Mutex
	sig  os.Signal
	hard bool
}

// watch starts the goroutine that waits for the signals of cfg, if any.
// runCtx is the run's context: a signal that arrives once it is done finds
// the run already stopping, and is ignored.
func watch(runCtx context.Context, cfg config, run *flow.Run, hardStop context.CancelFunc) *stopper {
	s := &stopper{done: make(chan struct{})}
	ch := cfg.stop
	if len(cfg.signals) > 0 {
		// Buffered so that a second signal sent while the first is handled is
		// not lost (signal.Notify never blocks to deliver).
		s.notify = make(chan os.Signal, 2)
		signal.Notify(s.notify, cfg.signals...)
		ch = s.notify
	}
	if ch == nil {
		return s
	}
	s.wg.Go(func() {
		// Waiting on runCtx too orders a cancellation and a signal the way
		// they happened: once the cancellation has woken this select, later
		// signals are ignored and the cancellation decides the ending. The
		// first check covers a cancellation before this goroutine got to the
		// select, where both cases would be ready and select picks at random.
		if runCtx.Err() == nil {
			select {
			case <-runCtx.Done():
			case sig := <-ch:
				s.drainThenStop(sig, ch, cfg.logger, run, hardStop)
				return
			case <-s.done:
				return
			}
		}
		// Keep taking signals, ignored, so that a sender on an unbuffered
		// stop channel is not blocked while the run winds down.
		for {
			select {
			case <-ch:
			case <-s.done:
				return
			}
		}
	})
	return s
}

// drainThenStop drains the run after the first signal, and stops it hard
// on a second.
func (s *stopper) drainThenStop(sig os.Signal, ch <-chan os.Signal, log *zap.Logger, run *flow.Run, hardStop context.CancelFunc) {
	s.mu.Lock()
	s.sig = sig
	s.mu.Unlock()
	log.Warn("signal: draining; send it again to stop hard", zap.Stringer("signal", sig))
	run.Drain()
	select {
	case <-ch:
		s.mu.Lock()
		s.hard = true
		s.mu.Unlock()
		log.Warn("second signal: stopping hard")
		hardStop()
	case <-s.done:
	}
}

// stop ends the watch and says which signal, if any, stopped the run.
func (s *stopper) stop() (os.Signal, bool) {
	close(s.done)
	s.wg.Wait()
	if s.notify != nil {
		signal.Stop(s.notify)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig, s.hard
}
