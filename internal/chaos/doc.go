// Package chaos is conveyor's randomized fault-injection suite. It holds no
// library code: everything is in its tests, which build random pipelines
// from the public API (package pipeline, stage, source and sink), inject
// random faults into them, and check invariants on every run.
//
// # What a run does
//
// Each run derives a seed from the base seed and its number, and from that
// seed alone decides everything: a source (slice, generator, iter.Seq,
// iter.Seq2 or channel) of 0 to 300 items, a chain of Map, ParMap (1 to 16
// workers, ordered or not, PerWorker or shared handlers), Filter, FlatMap,
// Tap, Batch (by size, or with MaxWait) followed by a handler of batches,
// and stage.Chain sub-chains, with random buffers, windows, labels and
// per-stage error policies; a sink (func, collect or channel); the
// pipeline's error policy (fail fast, skip, retry with a fallback, dead
// letter) and failure budget (the default, none, or MaxFailures(k)); the
// faults; and sometimes a zap logger down to debug level.
// Per-item faults (transient and permanent errors, panics, slow items, a
// sink that blocks) are a pure function of the seed, the stage and the item,
// so the suite can predict what each policy does with them.
// Run-level faults (context cancellation, a source error or panic, a failing
// worker init or dead-letter function, a drain signal and a second, hard
// stop signal) fire after a random number of calls or a random delay.
//
// # What every run checks
//
//   - Run returns within a bound; otherwise a watchdog fails the test with a
//     dump of every goroutine instead of hanging.
//   - No goroutine is left behind (goleak after every run, and in TestMain).
//   - Accounting is exact. Items carry the source ids they derive from and
//     the suite keeps its own lineage (which node was merged into which
//     batch, split into which FlatMap children, accepted, dropped, skipped,
//     dead-lettered or failed), so each ExitStatus.Counts field is compared
//     with what the suite saw, not with itself. Where a race makes an
//     outcome uncertain (an item failing while the run is being cancelled
//     may be counted failed or abandoned), the count must lie between the
//     sure and the possible. Always In == Done + Dropped + Skipped +
//     DeadLettered + Failed + Abandoned; Abandoned is 0 when the run
//     succeeded or drained; Retried equals the extra calls the suite saw.
//   - Without a stop (a cancellation, a fatal failure or a hard stop) the
//     sink receives exactly what a sequential model of the same pipeline
//     and faults predicts, from the items the source emitted: the same
//     sequence when nothing reorders, the same multiset otherwise (of items,
//     or of the values they carry once a timed or reordered Batch makes
//     batches unpredictable).
//   - The exit code matches the fault that stopped the run first: 1 for a
//     fatal failure or a cancellation, 130 for a drain (Hard when a second
//     signal stopped it), 0 for success. A failure during a drain still
//     fails the run (1), since the drain did not finish. The error names the
//     failing stage and item, and a panic's error carries its stack.
//   - Memory is bounded: while the run is not stopping, the source items
//     taken from the source and not yet settled never exceed a bound
//     computed from the pipeline built (see memBound in gen_test.go):
//     buffers and workers of every concurrent stage, batches, channels and
//     the items in each goroutine's hands, each counted for the source items
//     a node at that place may stand for (the product of the batch sizes
//     before it).
//   - The message of a run that succeeded is "Success" only when no item
//     failed; otherwise it counts the items skipped and dead-lettered,
//     stage by stage, adding up to the counts, in stages where the suite
//     saw such failures.
//   - A MaxFailures(k) budget: the suite counts the source items that may
//     have failed as it fails them, before the library settles them, and
//     from the (k+1)-th on the budget may stop the run, as a fatal failure
//     would (the default budget from the 100th, where its rate starts). A
//     run it stopped names the limit, counts more failed items than the
//     limit allows and no more than Counts does, and names an item that
//     failed under a policy; a run that ended without a stop kept within
//     k.
//   - Every PerWorker handler that was built is closed once; dead-letter
//     calls never overlap and get the item that failed, with its stage,
//     label and error; OnExit gets the ExitStatus Run returns; a generator
//     stops once a drain has reached it.
//
// # Running it
//
//	go test ./internal/chaos                  # the default 500 runs, about 5s
//	go test -race ./internal/chaos            # as CI runs it
//	go test ./internal/chaos -chaos.runs=5000 # a longer run
//	go test ./internal/chaos -run TestChaos -chaos.runs=100000 -timeout 0
//
// A run takes about 10ms with or without -race (mostly the sleeps of slow
// items and blocking sinks), so 500 runs take about 5s on 2 cores and the
// long run of 100,000 about a quarter of an hour.
//
// Flags: -chaos.seed sets the base seed (0, the default, picks one from the
// clock and logs it); -chaos.runs the number of runs (500); -chaos.maxfail stops
// after that many failing runs (20; 0: never); -chaos.v logs every run's
// pipeline.
//
// A failing run prints its seed, the pipeline and faults it built, what it
// saw, and the command that replays it:
//
//	go test ./internal/chaos -run TestChaos -chaos.seed=N -chaos.runs=1
//
// A replay builds the same pipeline with the same faults at the same items;
// the scheduling of goroutines differs, so a failure that depends on a race
// may need -count=20 to show again. Bugs the suite found keep a focused,
// deterministic regression test of their own in regress_test.go.
package chaos
