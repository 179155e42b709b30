// Package pipeline chains typed stages from a source to a sink and runs
// them: conveyor's answer to the seed's ImportManager.
//
// # The chain
//
// The seed's whole job is one expression:
//
//	status := pipeline.New(src).Batch(2).ParMap(8, h).Sink(stats.Sink(reg)).Run(ctx)
//	os.Exit(status.Code)
//
// New takes a source (package source: a generator, a slice, an iter.Seq, a
// channel). The chain methods append stages (package stage): Map, ParMap,
// FlatMap, Filter, Tap, Batch, Log, and Via for any stage value, such as a
// reusable sub-chain made with stage.Chain. Sink ends the chain (package
// sink, or stats.Sink) and Run runs it.
//
// Go methods cannot have type parameters, so the chain itself is untyped;
// every stage in it is typed. Map, ParMap and FlatMap take handlers made by
// generic constructors that infer the types (stage.Func, stage.Handle,
// stage.PerWorker, stage.Flat); Filter, Tap and Batch get their types from
// the stage before them. Run checks every connection before anything
// starts and reports a mismatch as CodeInvalid, naming both stages and both
// types. Items then move through typed ports and channels: no boxing and no
// reflection per item. Library authors who want the compiler to check a
// sub-chain build it with stage.Chain.
//
// # Running
//
// Sequential stages run fused in the goroutine before them; ParMap and a
// timed Batch own goroutines behind bounded buffers, so a slow stage holds
// the source back instead of growing memory. Run returns only after every
// goroutine it started has exited.
//
// # Errors
//
// The default policy is the seed's: the first failure cancels the run,
// in-flight work stops, the source stops, and the ExitStatus has code 1, the
// failing stage and the item's label (stage.Label). OnError sets another
// policy for the whole pipeline (stage.Skip, stage.Retry, stage.DeadLetter),
// and stage.OnError for one stage. Panics in user code become errors with
// their stack.
//
// Under Skip or DeadLetter a run goes on past failed items, within its
// failure budget (FailureBudget): by default a run stops, with code 1,
// once more than 99% of at least 100 items failed, or more than 1,000 in
// a row, so that a total failure is never reported as a success. A run
// that ends with code 0 says "Success" only when every item was done or
// dropped by a Filter; otherwise its message counts the items skipped and
// dead-lettered, stage by stage.
//
// # Exit status and signals
//
// Run returns an ExitStatus: CodeSuccess (0), CodeFailure (1), CodeInvalid
// (2), or 128 + the signal's number when WithSignals stopped it: the first
// SIGINT or SIGTERM drains the run (the source stops, emitted items finish),
// a second stops it hard. The seed reported the bare signal number (2 for
// SIGINT); conveyor follows the shell's convention (130), which does not
// collide with CodeInvalid. OnExit registers listeners, like the seed's exit
// listeners.
//
// # Shared values and stats
//
// The seed's ns_container shared read-mostly values between processes. In Go
// they are plain values captured by the handler's closure or struct; share
// them read-only, or guard writes yourself. The seed's Stats is a
// stats.Registry: handlers return per-item stats.Delta values that
// stats.Sink merges without a global lock, and WithStats puts the final
// snapshot in the ExitStatus.
package pipeline
