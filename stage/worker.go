package stage

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/conveyor-go/conveyor/internal/flow"
)

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
