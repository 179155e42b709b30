// Package stage holds conveyor's reusable, typed stages: Map, ParMap,
// Filter, FlatMap, Tap, Batch, Log, and Chain to compose them; and the
// stages ETL jobs reuse: KeyBy (a ParMap that keeps each key on one
// worker, in order), Unbatch, Reduce, Dedup, RateLimit and TimeWindow.
//
// Every constructor is generic and returns a *Of[In, Out], a stage value
// that knows its input and output types. The same value can be used in any
// number of pipelines, one after another or at the same time: it holds only
// configuration, and each run builds its own state from it.
//
// # Fusion and goroutines
//
// Map, Filter, FlatMap, Tap, Log, a size-only Batch, Unbatch, Reduce, Dedup
// and RateLimit are sequential: they run in the goroutine of the stage
// before them, as one loop, with no channel in between. ParMap, KeyBy,
// TimeWindow and a Batch with MaxWait start goroutines of their own and take
// items through a bounded buffer (see Buffer), which is where backpressure
// comes from: when the buffer is full, the stage before waits.
//
// # Errors
//
// Every call into user code runs under an error policy: FailFast (the
// default), Skip, Retry or DeadLetter, set for the whole pipeline and
// overridable per stage with OnError. A panic in user code is recovered and
// becomes a *PanicError with the stack; every failure is an *Error naming the
// stage and the item's label.
//
// # Handlers
//
// ParMap and KeyBy (and pipeline's Map) take a Proc: a handler with its types fixed.
// Make one from a function with Func, from any type with a Handle method with
// Handle, or with PerWorker when each worker needs its own state, built at
// start and closed at the end, like the seed's one handler per process.
package stage
