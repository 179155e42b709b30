package stage

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"go.uber.org/zap"

	"github.com/conveyor-go/conveyor/internal/flow"
)

// startWorker builds the handler of worker id of the stage in sc (p's
// shared one, or the worker's own) and returns the function that calls it,
// and stop, which closes an own handler that is an io.Closer: the worker
// defers it. It also returns the worker's logger, and whether it logs each
// item at debug level (the seed's workers log "batch_done. item: ... time
// spent: ..." after each), looked up once.
func startWorker[In, Out any](ctx context.Context, sc *flow.Scope, p Proc[In, Out], id int) (handle func(context.Context, In) (Out, error), stop func() error, log *zap.Logger, debug bool, err error) {
	h, err := workerHandler(ctx, sc, p, id)
	if err != nil {
		return nil, nil, nil, false, err
	}
	stop = func() error { return nil }
	if c, ok := h.(io.Closer); ok && p.init != nil {
		stop = func() error { return closeWorkerHandler(sc, id, c) }
	}
	log, debug = sc.Logger, sc.Logger.Core().Enabled(zap.DebugLevel)
	if debug {
		log = log.Named("worker-" + strconv.Itoa(id))
	}
	return call(h), stop, log, debug, nil
}

// workerHandler returns p's shared handler, or builds the own handler of
// worker id of the stage in sc. Errors and panics name the worker.
func workerHandler[In, Out any](ctx context.Context, sc *flow.Scope, p Proc[In, Out], id int) (h Handler[In, Out], err error) {
	if p.shared != nil {
		return p.shared, nil
	}
	name := "worker-" + strconv.Itoa(id)
	defer func() {
		if v := recover(); v != nil {
			err = workerError(sc, name, flow.NewPanicError(v))
		}
	}()
	h, err = p.init(ctx, Worker{ID: id, Logger: sc.Logger.Named(name)})
	if err != nil {
		return nil, workerError(sc, name, fmt.Errorf("init: %w", err))
	}
	if h == nil {
		return nil, workerError(sc, name, fmt.Errorf("init returned a nil handler"))
	}
	return h, nil
}

// closeWorkerHandler closes the own handler of worker id.
func closeWorkerHandler(sc *flow.Scope, id int, c io.Closer) (err error) {
	name := "worker-" + strconv.Itoa(id)
	defer func() {
		if v := recover(); v != nil {
			err = workerError(sc, name, flow.NewPanicError(v))
		}
	}()
	if err := c.Close(); err != nil {
		return workerError(sc, name, fmt.Errorf("close: %w", err))
	}
	return nil
}

func workerError(sc *flow.Scope, worker string, err error) error {
	return &flow.Error{Stage: sc.Name, Index: sc.Index, Label: worker, Err: err}
}
