// Package connchaos is conveyor's randomized fault suite for the edges, the
// sibling of internal/chaos for the connectors: where chaos drives
// in-memory sources and sinks, connchaos runs pipelines that meet the
// outside world, and breaks the outside world under them. It holds no
// library code: everything is in its tests, which build random runs from
// the public API, inject random faults, and check invariants on every run.
//
// # What a run does
//
// Each run derives everything from its seed: a source of 0 to 200 inputs
// (ids 0..n-1) and a sink, each one of
//
//   - source/jetstream on a work-queue stream of an embedded NATS server
//     (internal/natsrun, one per test binary; each run has its own streams,
//     deleted after it), with a random FetchBatch, MaxWait (20ms to the
//     default 1s), UntilEmpty or not (a worker stopped by a signal), and a
//     consumer with a random AckWait, MaxDeliver and MaxAckPending;
//     sink/jetstream into a stream of the run's own, with MsgID or not;
//   - sqlsrc.Query and sqlsink.Insert (after a timed Batch) on SQLite, and
//     on PostgreSQL when CONVEYOR_TEST_POSTGRES is set (.ci/run sets it);
//   - textsrc.LinesFile of a file or a FIFO, textsrc.Lines of an os.Pipe
//     (or of a plain io.Reader over one), decoded by textsrc.DecodeJSON;
//     textsink.JSONLFile and textsink.JSONL to a buffer; or sink.Func;
//
// and between them 0 to 4 stages: a fused Map, ParMap (1 to 8 workers,
// ordered or not), KeyBy, and a timed Batch (Batch with MaxWait) whose
// batches a Map or ParMap handles, taken apart again by Unbatch unless
// they go to an SQL sink; the pipeline's error policy (fail fast, skip,
// retry with a fallback, dead letter); and the faults:
//
//   - per input, at a position (the decoder, a stage, the sink): a
//     transient error (the first 1-3 calls fail), a permanent one, or a
//     panic; at the decoder, a line that is not JSON, or a decoder that
//     fails; at the sink, a sink function that fails, a row that breaks the
//     table's CHECK constraint (the database fails the batch mid-way), or a
//     subject that no stream captures (the server refuses the publish); a
//     scan that fails (sqlsrc, fatal whatever the policy);
//   - per run, after a random delay or once the source side has seen a
//     random number of inputs: a cancellation of Run's context, a drain
//     (a first signal on the stop channel), a hard stop (a second one),
//     and, where JetStream is used, a server outage: the server stops and
//     starts again 0.1-5s later on its port and store (mostly under 0.5s,
//     to keep runs fast), in some runs with a MaxOutage below or above it;
//   - a source blocked when the run stops: a pipe or FIFO whose writer
//     stays open and idle after its lines, a FIFO that nobody opens for
//     writing (the source blocks in open(2)), a worker whose queue never
//     ends. Such a run always gets a stop, once the source side has seen
//     every input.
//
// Per-input faults are a pure function of the seed, the position and the
// input, so a replay injects the same faults at the same inputs.
//
// # What every run checks
//
//   - Run returns within the bounds of issue 13: within 1s of a hard stop,
//     a cancellation, or the fault that failed it; within the source's
//     MaxWait and 1s of a drain (counted from the server's restart for a
//     drain during an outage), each plus a margin for a loaded machine
//     (see race_test.go and norace_test.go). A watchdog fails a run that
//     does not return 3s past its bound, or that makes no progress (no
//     decode, handler or sink call) for longer than an outage and two
//     AckWaits, with a dump of the library's goroutines, then cancels it
//     and releases what it may be blocked on, instead of hanging.
//   - The exit matches the faults: a failure is one of the injected faults
//     (errors.As finds its error or panic value, the batch or line it
//     names), or context.Canceled after a cancellation; 130 only after a
//     signal, Hard only after a second one or a cancellation; a fault under
//     fail fast fails the run; a source that never ends never succeeds;
//     jetstream.ErrOutage only after an outage longer than MaxOutage,
//     within MaxOutage and 2s of its start.
//   - No redelivery loop: a message is delivered (Metadata's NumDelivered,
//     over the run and the follow-up) at most the policy's calls, plus 3 (a
//     delivery given back at the stop, the follow-up's, an acknowledgement
//     the server had not applied yet), plus 1 and one per AckWait for an
//     outage.
//   - None lost, none stranded: after a JetStream run a clean follow-up
//     run (UntilEmpty, no faults) takes what the queue still holds, into
//     the same store, through a sink that stores as it goes; then every
//     input is in the output, dead-lettered, or skipped (it had a failed
//     call, or was in an SQL batch that had one, under a policy that may
//     skip), and the queue is empty. A message the consumer will not
//     deliver again is stranded, unless the run stopped while it held the
//     message's last delivery (MaxDeliver), or an outage cost it its last
//     deliveries (the server counts deliveries lost as it goes down): those
//     are counted apart. Inputs of a source that does not deliver again are
//     checked in a run that finished or drained: those it emitted.
//   - Once where the sink dedups: each input is in the output at most once
//     with MsgID, with an SQL sink that upserts on the id, and with
//     any sink fed by a source that does not deliver again (unless a
//     publish was retried during an outage).
//   - Counts: In == Done + Dropped + Skipped + DeadLettered + Requeued +
//     Failed + Abandoned, none negative; nothing abandoned or failed in a
//     run that succeeded or drained; In matches the decodes (JetStream) or
//     the input (others); DeadLettered matches the dead-letter calls; Done
//     matches the func sink's calls, the rows an SQL sink committed (a
//     committed batch is done, whatever happens after), the lines a text
//     sink wrote (exactly, unless a Batch taken apart again lumps its
//     inputs' outcomes together: then Done is at most those, and
//     DeadLettered is not compared); a file is replaced only by a run that
//     abandoned and failed nothing, and no temporary file is left.
//   - No leak: no goroutine of the library outlives Run (but a read
//     blocked in a plain io.Reader, until the reader's writer closes), and
//     nothing at all outlives the run's teardown but the NATS server's
//     (the suite's own check: the server's goroutines come and go); and
//     goleak in TestMain.
//
// # Running it
//
//	go test ./internal/connchaos                       # the short pass: 60 runs, 14-19s (16-19s under -race)
//	go test -race ./internal/connchaos                 # as CI runs it
//	go test ./internal/connchaos -connchaos.runs=2000 -timeout 0
//
// Flags: -connchaos.seed sets the base seed (0, the default, picks one
// from the clock and logs it); -connchaos.runs the number of runs (60);
// -connchaos.maxfail stops after that many failing runs (10; 0: never);
// -connchaos.v logs every run and how it ended. A pass logs how its runs
// ended, what they met, and the distribution of the measured times to
// Run's return.
//
// A failing run prints its seed, the run it drew, what happened, and the
// command that replays it:
//
//	go test ./internal/connchaos -run TestConnChaos -connchaos.seed=N -connchaos.runs=1 -connchaos.v
//
// A replay draws the same run with the same faults at the same inputs; the
// scheduling of goroutines and the server differ, so a failure that
// depends on a race may need -count=10 to show again. Bugs the suite found
// keep a focused, deterministic regression test of their own in
// regress_test.go.
package connchaos
