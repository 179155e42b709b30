package main

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
)

// TestNothingIsLostWhenAWorkerIsKilled runs the demo with real worker
// processes, one killed with SIGKILL while it holds unacknowledged jobs,
// and checks the streams itself afterwards.
func TestNothingIsLostWhenAWorkerIsKilled(t *testing.T) {
	srv := startServer(t)
	cfg := testConfig(t)
	cfg.natsURL = srv.URL()
	var out syncbuf.Buffer
	defer func() {
		if t.Failed() || testing.Verbose() {
			t.Log("the coordinator's output:\n" + out.String())
		}
	}()

	s, err := coordinate(context.Background(), cfg, &out, testSpawner)
	require.NoError(t, err)
	require.True(t, s.finished, "every result stored and JOBS emptied before the timeout")

	// The kill: of a worker that had stored results while jobs were
	// delivered and unacknowledged, whose jobs then came back.
	require.NotNil(t, s.killed, "a worker was killed")
	assert.Positive(t, s.killed.stored, "the killed worker had stored results")
	assert.Positive(t, s.killed.ackPending, "jobs were delivered and unacknowledged when it was killed")
	// Its unacknowledged jobs came back to the others: JOBS emptied
	// (s.finished, required above), which takes an acknowledgement of
	// every job. Their results count as redelivered only where the killed
	// worker had not stored them yet (MsgID drops a second result), so
	// s.redelivered is 0 when all it held were jobs whose results it had
	// stored and not yet acknowledged (a CI run: 93 stored, 0 redelivered
	// results, 11 redeliveries received by the survivors).

	// Every job's result, once.
	assert.Equal(t, cfg.items, s.distinct)
	assert.Empty(t, s.missing)
	assert.Zero(t, s.twice)
	assert.Zero(t, s.strays)
	total := 0
	for _, n := range s.byWorker {
		total += n
	}
	assert.Equal(t, cfg.items, total, "results by worker: %v", s.byWorker)

	// The workers: the survivors drained.
	require.Len(t, s.exits, cfg.workers)
	for _, e := range s.exits {
		if e.killed {
			assert.Equal(t, syscall.SIGKILL, e.signal, "%s", e.name)
		} else {
			assert.Equal(t, drained, e.code, "%s: %v", e.name, e)
			assert.Zero(t, e.signal, "%s", e.name)
		}
	}
	assert.Empty(t, s.problems())
	assert.Zero(t, s.code())

	// The streams, seen from here.
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	results, err := js.Stream(ctx, resultsStream)
	require.NoError(t, err)
	info, err := results.Info(ctx, jetstream.WithSubjectFilter(resultFilter(s.run)))
	require.NoError(t, err)
	stored := uint64(0)
	for _, n := range info.State.Subjects {
		stored += n
	}
	assert.Equal(t, uint64(cfg.items), stored, "RESULTS holds one result per job")
	jobs, err := js.Stream(ctx, jobsStream)
	require.NoError(t, err)
	jinfo, err := jobs.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, jinfo.State.Msgs, "JOBS is empty")
	cons, err := js.Consumer(ctx, jobsStream, consumerName)
	require.NoError(t, err)
	cinfo, err := cons.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, cinfo.NumAckPending, "no job is left delivered and unacknowledged")
	assert.Zero(t, cinfo.NumPending, "no job is left undelivered")
	assert.Zero(t, cinfo.NumWaiting, "no worker is left pulling")
}

// TestRunsOnOneServerAreKeptApart runs the demo twice against the same
// server within the duplicates window, without a kill: each run gets all
// its results, though their jobs have the same ids.
func TestRunsOnOneServerAreKeptApart(t *testing.T) {
	srv := startServer(t)
	cfg := testConfig(t)
	cfg.natsURL, cfg.kill, cfg.items, cfg.workers = srv.URL(), false, 100, 2
	runs := map[string]bool{}
	for range 2 {
		var out syncbuf.Buffer
		s, err := coordinate(context.Background(), cfg, &out, testSpawner)
		require.NoError(t, err)
		assert.Nil(t, s.killed)
		assert.Zero(t, s.redelivered)
		assert.Equal(t, cfg.items, s.distinct)
		assert.Empty(t, s.problems(), out.String())
		runs[s.run] = true
	}
	assert.Len(t, runs, 2, "each run has its own id")
}

// TestTheDemoRunsItsOwnServer runs the command as main does, but for the
// worker binary: the embedded server, the summary, the exit code.
func TestTheDemoRunsItsOwnServer(t *testing.T) {
	cfg := testConfig(t)
	cfg.items, cfg.workers, cfg.kill = 100, 2, false
	var out syncbuf.Buffer
	code := runCoordinator(cfg, &out, testSpawner)
	require.Zero(t, code, out.String())
	for _, want := range []string{
		"NATS server with JetStream embedded at nats://127.0.0.1:",
		"started 2 worker processes",
		"[w1] ", "[w2] ",
		"results: 100 distinct of 100 jobs, 0 missing, 0 stored twice",
		"JOBS: 0 messages left, 0 delivered and unacknowledged",
		"OK: every job has exactly one result",
	} {
		assert.Contains(t, out.String(), want)
	}
	assert.Equal(t, 2, strings.Count(out.String(), "exit 143 (drained after SIGTERM)"), out.String())
}
