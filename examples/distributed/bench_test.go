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

// The I/O-bound job of BenchmarkWorkerProcesses: each job sleeps ioWork,
// ioPar at a time in each worker process.
const (
	ioWork = time.Millisecond
	ioPar  = 8
	ioJobs = 10_000
)

// BenchmarkWorkerProcesses measures the throughput of 1, 2 and 4 of the
// example's worker processes over 10,000 jobs of an I/O-bound handler (a
// 1 ms sleep, ParMap(8) in each process). The jobs are published and the
// processes started while the consumer is paused, outside the timer; the
// timer runs from the end of the pause, once every process waits on a
// pull, until RESULTS holds every result.
//
// A 1 ms sleep takes longer than 1 ms (timer slack, scheduling), so the
// ceiling is, as W4 has it, procs × 8 / the mean sleep: sleep-us is the
// mean of the same sleeps taken one after another by this process during
// the timed run, and ceiling% is items/s over that ceiling.
//
//	cd benchmarks
//	go run ./cmd/benchtable -dir ../examples/distributed -bench WorkerProcesses -benchtime 1x -count 5
func BenchmarkWorkerProcesses(b *testing.B) {
	for _, procs := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			var elapsed, slept time.Duration
			var sleeps int64
			b.StopTimer()
			for range b.N {
				e, s, n := ioProcsRound(b, procs)
				elapsed, slept, sleeps = elapsed+e, slept+s, sleeps+n
			}
			perSec := float64(b.N*ioJobs) / elapsed.Seconds()
			mean := slept.Seconds() / float64(sleeps)
			b.ReportMetric(perSec, "items/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*ioJobs), "ns/item")
			b.ReportMetric(100*perSec/(float64(procs*ioPar)/mean), "ceiling%")
			b.ReportMetric(mean*1e6, "sleep-us")
		})
	}
}

// ioProcsRound runs the jobs through procs worker processes on a server of
// its own, and returns the time from the consumer's resumption to the last
// result stored, and the sleeps measured meanwhile: their sum and number.
func ioProcsRound(b *testing.B, procs int) (elapsed, slept time.Duration, sleeps int64) {
	srv := startServer(b)
	defer srv.Stop()
	cfg, err := parseFlags([]string{"-nats", srv.URL(), "-work", ioWork.String(), "-par", strconv.Itoa(ioPar),
		"-items", strconv.Itoa(ioJobs)}, &syncbuf.Buffer{})
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
	require.NoError(b, publishJobs(ctx, js, run, ioJobs))

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
	resumeWhenPulling(ctx, b, js, jobsStream, consumerName, procs)

	b.StartTimer()
	start := time.Now()
	sampled := make(chan struct{})
	sampling, stopSampling := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			t := time.Now()
			if sleep(sampling, cfg.work) == nil {
				slept += time.Since(t)
				sleeps++
			}
		}
	}()
	for {
		total, _, err := resultCounts(ctx, js, run)
		require.NoError(b, err)
		if total >= ioJobs {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed = time.Since(start)
	b.StopTimer()
	stopSampling()
	<-sampled // slept and sleeps are final

	for _, e := range c.stopWorkers() {
		if e.code != drained {
			b.Errorf("worker %s: %v, not exit %d; its output:\n%s", e.name, e, drained, out.String())
		}
	}
	return elapsed, slept, sleeps
}
