// Package benchmarks measures conveyor against a plain loop, hand-written
// channel pipelines and peer libraries doing the same work, side by side in
// one process. It is its own module, so the peers stay out of conveyor's
// go.mod:
//
//	cd benchmarks
//	go run ./cmd/benchtable                        # the README's table (-count 5, ~8 min)
//	go test -run '^$' -bench . -benchmem           # the raw numbers
//	go test -run '^$' -bench . -benchtime=1x -items=256   # the smoke pass of .ci/run
//
// # Workloads
//
// One benchmark function per workload; its sub-benchmarks are the
// implementations. Every implementation does the same work on the same
// items and its result (a sum, or an order-sensitive checksum) is checked
// on every iteration, so nothing is optimized away and a wrong variant
// fails.
//
//   - W1 (BenchmarkW1OneMap): 1M ints, one Map (+1), 1 worker, a sink that
//     sums them.
//   - W2 (BenchmarkW2ThreeMaps): the same through three chained Maps.
//   - W3 (BenchmarkW3CPU): 100k items of about 1 µs of CPU each (a hash loop
//     whose length is calibrated once per process), 2 workers. eff% is the
//     throughput over twice the throughput of the sequential loop, measured
//     just before the sub-benchmarks.
//   - W4 (BenchmarkW4Sleep): 2,000 items sleeping 1 ms each, 64 workers.
//     ceiling% is the throughput over the practical ceiling, workers / mean
//     sleep, where the mean is of the sleeps measured around each
//     time.Sleep in that very run (sleep-µs).
//   - W5 (BenchmarkW5Order): 200k items of about 0.1 µs of CPU, 2 workers,
//     ordered against unordered. An ordered variant's sink takes an
//     order-sensitive checksum; an unordered one sums.
//   - W6 (BenchmarkW6Batch): 1M ints in batches of 100; the consumer sums
//     each batch.
//   - BenchmarkLatencyTrickle: a burst of cheap items, then one item every
//     1 ms; p50-us and p99-us are the times from emit to sink of the
//     trickle's items (does chunking hold a slow trickle back?).
//   - BenchmarkMemoryStream: 1M and 10M 64-byte items through ParMap(4) into
//     a sink slower than the handler; peak-heap-KiB and peak-live-KiB are
//     the largest heap sampled during the run (is memory flat in the length
//     of the stream?).
//
// The -items flag caps every workload's item count (0, the default, runs the
// full sizes above).
//
// # Implementations
//
//   - loop: the sequential loop, calling the same function through the same
//     func value as the others.
//   - chans/unbuffered, chans/buffered-64: the pipeline people write by
//     hand: a producer goroutine, one goroutine per stage (workers
//     goroutines for a parallel one), the consumer in the calling goroutine,
//     each channel closed by the goroutine that sends on it, plain sends.
//     chans/buffered-64 is the reference of benchtable's first ratio.
//   - chans/buffered-64+ctx: the same with every send also selecting on
//     ctx.Done() and a failure cancelling the rest, as in errgroup's
//     pipeline example and as conveyor does.
//   - conveyor/...: the fluent chain, built once and Run once per iteration.
//     conveyor/map is the fused Map (no goroutine hop); conveyor/parmap-N is
//     ParMap at the workload's worker count, unordered and ordered. Every
//     run keeps its per-stage metrics, as by default; in W1 and W2,
//     conveyor/map/unmetered and conveyor/parmap-1/unordered/unmetered run
//     WithoutMetrics, and benchtable's "metered / unmetered" column is what
//     the metrics cost.
//   - conc/stream: sourcegraph/conc's ordered stream, a task per item.
//     conc/pool: a task per item writing into a results slice. conc/iter:
//     iter.Mapper, whose goroutines take the next index of the input slice
//     from an atomic counter (no channel, no task) and fill the results
//     slice it returns.
//   - pond: an alitto/pond/v2 pool with a queue of 64, ants: a
//     panjf2000/ants/v2 PoolWithFuncGeneric; both are made once per
//     sub-benchmark, as such pools are meant to be long-lived, and a task per
//     item writes into a results slice.
//   - errgroup: golang.org/x/sync/errgroup with SetLimit(workers), a
//     goroutine per item writing into a results slice.
//
// The pool libraries have no stages: for W2 a task applies all three
// functions, and the consumer sums the results slice once the pool is done
// (except in W5, where unordered tasks add to an atomic sum as they finish).
//
// # Metrics
//
// measure, the one helper every sub-benchmark goes through, reports
// ns/item, items/s, allocs/item (heap allocations counted by
// runtime.MemStats.Mallocs across the timed loop, divided by the items
// moved) and cores (user+system CPU time of the process from getrusage over
// wall time, so 2.00 is both cores of this machine busy for the whole run;
// it includes the garbage collector and any goroutine the variant left
// behind).
package benchmarks
