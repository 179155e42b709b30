package stage

import (
	"context"

	"go.uber.org/zap"
)

// Handler handles one item: the seed's _handle_item, typed. Any type with
// this method is a Handler; Handle infers In and Out from the method.
type Handler[In, Out any] interface {
	Handle(ctx context.Context, in In) (Out, error)
}

// Worker describes one ParMap or KeyBy worker to PerWorker's constructor: the seed's
// worker_num and worker logger.
type Worker struct {
	// ID numbers the workers of one stage from 1.
	ID int
	// Logger is the stage's logger named "worker-ID".
	Logger *zap.Logger
}

// Proc is a handler with its types fixed, ready for Map or ParMap. Make it
// with Func, Handle or PerWorker. The zero Proc has no handler and makes
// stages that report so when the pipeline is built.
type Proc[In, Out any] struct {
	shared Handler[In, Out]
	init   func(ctx context.Context, w Worker) (Handler[In, Out], error)
}

// Task is the untyped face of a Proc taken by pipeline's Map and ParMap.
type Task interface {
	// MapStage returns a Map stage running the handler.
	MapStage(opts ...Option) Stage
	// ParMapStage returns a ParMap stage running the handler on workers
	// goroutines.
	ParMapStage(workers int, opts ...Option) Stage
}

var _ Task = Proc[int, int]{}

type funcHandler[In, Out any] func(context.Context, In) (Out, error)

func (f funcHandler[In, Out]) Handle(ctx context.Context, in In) (Out, error) { return f(ctx, in) }

// Func makes a Proc from a function. The function is shared by all workers,
// so it must be safe for concurrent use when run by ParMap or KeyBy.
func Func[In, Out any](f func(ctx context.Context, in In) (Out, error)) Proc[In, Out] {
	if f == nil {
		return Proc[In, Out]{}
	}
	return Proc[In, Out]{shared: funcHandler[In, Out](f)}
}

// Handle makes a Proc from any value with a Handle method; its types are
// inferred from the method. The value is shared by all workers, so it must be
// safe for concurrent use when run by ParMap or KeyBy.
func Handle[In, Out any](h Handler[In, Out]) Proc[In, Out] {
	return Proc[In, Out]{shared: h}
}

// PerWorker makes a Proc whose workers each build their own handler with
// init when they start (the seed built one handler per process). If a
// handler also has a Close() error method it is called when its worker
// stops, whether the run succeeded or not. An error from init or Close is
// fatal.
func PerWorker[In, Out any](init func(ctx context.Context, w Worker) (Handler[In, Out], error)) Proc[In, Out] {
	return Proc[In, Out]{init: init}
}

func (p Proc[In, Out]) valid() bool { return p.shared != nil || p.init != nil }

// call returns the function that runs h: the function itself when h was
// made by Func, saving a call through the Handle method per item.
func call[In, Out any](h Handler[In, Out]) func(context.Context, In) (Out, error) {
	if f, ok := h.(funcHandler[In, Out]); ok {
		return f
	}
	return h.Handle
}

// MapStage returns Map's stage for this handler: fused into the goroutine
// before it when the handler is shared, and an ordered ParMap with one worker
// when it has per-worker state, so that its init and Close have a goroutine
// that owns them.
func (p Proc[In, Out]) MapStage(opts ...Option) Stage {
	if p.shared == nil && p.init != nil {
		// The options are Map's, and the buffer the ParMap has.
		if o := collect("per-worker map", opts); o.err != "" {
			return invalidStage[In, Out](o.name, o.err)
		}
		return ParMap(1, p, append([]Option{Name("map"), Ordered()}, opts...)...)
	}
	return mapHandler("map", p, opts)
}

// ParMapStage returns ParMap(workers, p, opts...).
func (p Proc[In, Out]) ParMapStage(workers int, opts ...Option) Stage {
	return ParMap(workers, p, opts...)
}
