package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
)

// BenchmarkWorkerProcesses measures the throughput of 1, 2 and 4 worker
// processes over b.N jobs of an I/O-bound handler (a 1ms sleep, 4 at a
// time per process: one process tops out near 4,000 jobs/s). The jobs are
// published and the processes started while the consumer is paused,
// outside the timer; the timer runs from the end of the pause, once every
// process waits on a pull, until RESULTS holds every result.
//
//	go test -run '^$' -bench WorkerProcesses -benchtime 4000x ./examples/distributed
func BenchmarkWorkerProcesses(b *testing.B) {
	for _, procs := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) { benchmarkProcs(b, procs) })
	}
}

func benchmarkProcs(b *testing.B, procs int) {
	srv := startServer(b)
	cfg, err := parseFlags([]string{"-nats", srv.URL(), "-work", "1ms", "-par", "4", "-items", strconv.Itoa(b.N)}, &syncbuf.Buffer{})
	require.NoError(b, err)
	nc, err := nats.Connect(srv.URL())
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The jobs, in a paused consumer.
	require.NoError(b, setUp(ctx, js, cfg, true))
	_, err = js.PauseConsumer(ctx, jobsStream, consumerName, time.Now().Add(time.Hour))
	require.NoError(b, err)
	run := "bench"
	require.NoError(b, publishJobs(ctx, js, run, b.N))

	// The workers, each waiting on a pull.
	var out syncbuf.Buffer
	c := &coordinator{cfg: cfg, js: js, out: &out, s: &summary{run: run}}
	defer c.stopWorkers()
	for i := 1; i <= procs; i++ {
		name := fmt.Sprintf("w%d", i)
		p, err := startProc(name, testSpawner(cfg.workerArgs(name, srv.URL())), &out)
		require.NoError(b, err)
		c.procs = append(c.procs, p)
	}
	require.Eventually(b, func() bool {
		ci, err := consumerInfo(ctx, js)
		return err == nil && ci.NumWaiting >= procs
	}, time.Minute, 5*time.Millisecond, "every worker pulls")

	// The consumer resumes at a deadline: nats-server (2.15.2) wakes the
	// pulls waiting on a paused consumer when its pause deadline passes,
	// but not on a ResumeConsumer, after which they would wait out their
	// expiry (the source's MaxWait, 1s).
	resume := time.Now().Add(50 * time.Millisecond)
	_, err = js.PauseConsumer(ctx, jobsStream, consumerName, resume)
	require.NoError(b, err)
	time.Sleep(time.Until(resume))
	b.ResetTimer()
	start := time.Now()
	for {
		total, _, err := resultCounts(ctx, js, run)
		require.NoError(b, err)
		if total >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/item")

	for _, e := range c.stopWorkers() {
		if e.code != drained {
			b.Errorf("worker %s: %v, not exit %d; its output:\n%s", e.name, e, drained, out.String())
		}
	}
}
