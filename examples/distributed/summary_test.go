package main

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goodSummary is the summary of a run of 5 jobs where w2 was killed and
// job 4, which it held, went to w1.
func goodSummary() *summary {
	s := &summary{run: "r1", items: 5, workers: []string{"w1", "w2"}, finished: true, elapsed: time.Second}
	s.killed = &killed{name: "w2", pid: 42, stored: 1, ackPending: 3}
	s.exits = []workerExit{{name: "w1", code: drained}, {name: "w2", code: -1, signal: syscall.SIGKILL, killed: true}}
	s.add([]Result{
		{Run: "r1", JobID: 1, Worker: "w1", Delivery: 1},
		{Run: "r1", JobID: 2, Worker: "w2", Delivery: 1},
		{Run: "r1", JobID: 3, Worker: "w1", Delivery: 1},
		{Run: "r1", JobID: 4, Worker: "w1", Delivery: 2},
		{Run: "r1", JobID: 5, Worker: "w1", Delivery: 1},
	})
	return s
}

func TestASummaryWithEveryJobOnceIsOK(t *testing.T) {
	s := goodSummary()
	assert.Equal(t, 5, s.distinct)
	assert.Equal(t, 1, s.redelivered)
	assert.Equal(t, map[string]int{"w1": 4, "w2": 1}, s.byWorker)
	assert.Empty(t, s.problems())
	assert.Zero(t, s.code())

	var out bytes.Buffer
	s.print(&out)
	for _, want := range []string{
		"w1      4        1                    exit 143 (drained after SIGTERM)",
		"w2      1        0                    killed by SIGKILL after storing 1 results",
		"redelivered: 1 results are of jobs delivered more than once",
		"results: 5 distinct of 5 jobs, 0 missing, 0 stored twice",
		"JOBS: 0 messages left, 0 delivered and unacknowledged",
		"5 items/s",
		"OK: ",
	} {
		assert.Contains(t, out.String(), want)
	}
}

func TestASummaryFailsOnWhatWasLostOrLeft(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spoil   func(*summary)
		problem string
	}{
		{"a missing result", func(s *summary) {
			s.add([]Result{{Run: "r1", JobID: 1, Worker: "w1"}, {Run: "r1", JobID: 2, Worker: "w1"}, {Run: "r1", JobID: 5, Worker: "w1"}})
		}, "2 jobs have no result (ids 3, 4)"},
		{"a result twice", func(s *summary) {
			s.add([]Result{
				{Run: "r1", JobID: 1}, {Run: "r1", JobID: 2}, {Run: "r1", JobID: 3}, {Run: "r1", JobID: 4}, {Run: "r1", JobID: 5}, {Run: "r1", JobID: 5},
			})
		}, "1 jobs have more than one result"},
		{"a result of another run", func(s *summary) {
			s.add([]Result{{Run: "r1", JobID: 1}, {Run: "r1", JobID: 2}, {Run: "r1", JobID: 3}, {Run: "r1", JobID: 4}, {Run: "r1", JobID: 5}, {Run: "r0", JobID: 5}})
		}, "1 results are of no job of run r1"},
		{"jobs left", func(s *summary) { s.jobsLeft = 2 }, "JOBS still holds 2 messages"},
		{"unacknowledged jobs", func(s *summary) { s.unacked = 3 }, "3 jobs were delivered and not acknowledged"},
		{"a timeout", func(s *summary) { s.finished = false }, "the run did not finish"},
		{"a survivor that failed", func(s *summary) { s.exits[0].code = 1 }, "worker w1: exit 1, not exit 143"},
		{"a survivor killed by a signal", func(s *summary) { s.exits[0] = workerExit{name: "w1", code: -1, signal: syscall.SIGTERM} },
			"worker w1: killed by signal terminated, not exit 143"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := goodSummary()
			tc.spoil(s)
			require.Len(t, s.problems(), 1)
			assert.Contains(t, s.problems()[0], tc.problem)
			assert.Equal(t, 1, s.code())
			var out bytes.Buffer
			s.print(&out)
			assert.Contains(t, out.String(), "FAILED:\n  - "+tc.problem)
		})
	}
}

func TestFirstIDsAreListedWithHowManyMore(t *testing.T) {
	assert.Equal(t, "1, 2", firstIDs([]int{1, 2}, 10))
	assert.Equal(t, "1, 2 and 3 more", firstIDs([]int{1, 2, 3, 4, 5}, 2))
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 2000, cfg.items)
	assert.Equal(t, 3, cfg.workers)
	assert.Equal(t, 5*time.Second, cfg.ackWait)
	assert.True(t, cfg.kill)
	assert.False(t, cfg.worker)

	// What a coordinator passes to its workers is what they parse.
	w, err := parseFlags(cfg.workerArgs("w7", "nats://127.0.0.1:4222"), &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, w.worker)
	assert.Equal(t, "w7", w.name)
	assert.Equal(t, "nats://127.0.0.1:4222", w.natsURL)
	assert.Equal(t, cfg.work, w.work)
	assert.Equal(t, cfg.par, w.par)
	assert.Equal(t, cfg.fetch, w.fetch)
	assert.Equal(t, cfg.ackWait, w.ackWait)
	assert.Equal(t, cfg.maxAckPending, w.maxAckPending)

	assert.Regexp(t, `^w-[A-Za-z0-9_-]+-\d+$`, defaultName())

	for args, why := range map[string]string{
		"-worker":                   "-worker needs -nats",
		"-worker -nats x -name a.b": `-name "a.b"`,
		"-workers 0":                "-workers 0 needs -nats",
		"-items 0":                  "-items must be >= 1",
		"-ack-wait 10ms":            "-ack-wait must be >= 1s",
		"-par 0":                    "-par must be >= 1",
		"extra":                     "unexpected arguments",
	} {
		var errOut bytes.Buffer
		_, err := parseFlags(strings.Fields(args), &errOut)
		assert.ErrorContains(t, err, why, args)
	}
}
