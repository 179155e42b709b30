package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
)

// The environment of a test binary started as a worker process of
// BenchmarkScaleOutProcesses: the first variable names the worker
// (handwritten or conveyor), the second the server's URL.
const (
	sbsWorkerEnv = "CONVEYOR_SBS_WORKER"
	sbsURLEnv    = "CONVEYOR_SBS_URL"
)

// BenchmarkScaleOutProcesses runs 1, 2 and 4 worker processes against one
// embedded server, each the worker of BenchmarkScaleOutWorker (the job of
// about 100 bytes of JSON, decoded, transformed, its result published with
// a Nats-Msg-Id and the job acknowledged once the result is confirmed):
// the hand-written one (runHandWorker) and conveyor's with its defaults
// (without UntilEmpty: the processes run until SIGTERM, which drains
// them). The jobs are published and the processes started while the
// consumer is paused, outside the timer; the timer runs from the end of the
// pause, once every process waits on a pull, until RESULTS holds every
// result. jobs/s is per round, all processes together; benchtable divides
// each conveyor figure by the hand-written one with as many processes.
//
//	cd benchmarks
//	go run ./cmd/benchtable -dir ../examples/distributed -bench ScaleOutProcesses -benchtime 1x -count 5
func BenchmarkScaleOutProcesses(b *testing.B) {
	const jobs = 50_000
	for _, procs := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			for _, kind := range []string{"handwritten", "conveyor"} {
				b.Run(kind, func(b *testing.B) {
					var elapsed time.Duration
					b.StopTimer()
					for range b.N {
						elapsed += sbsProcsRound(b, jobs, procs, kind)
					}
					b.ReportMetric(float64(b.N*jobs)/elapsed.Seconds(), "jobs/s")
				})
			}
		})
	}
}

// sbsProcsRound runs jobs through procs worker processes of kind, on a
// server of its own, and returns the time from the consumer's resumption
// to the last result stored.
func sbsProcsRound(b *testing.B, jobs, procs int, kind string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := newSBSServer(ctx, b)
	defer s.close()
	s.publish(ctx, b, jobs)
	s.createConsumer(ctx, b)
	_, err := s.js.PauseConsumer(ctx, sbsJobsStream, sbsConsumer, time.Now().Add(time.Hour))
	require.NoError(b, err)

	var out syncbuf.Buffer
	var ps []*proc
	defer func() {
		for _, p := range ps {
			p.signal(syscall.SIGTERM)
		}
		for _, p := range ps {
			if !p.wait(drainTimeout) || p.exit().code != 0 {
				b.Errorf("worker %s: %v; its output:\n%s", p.name, p.exit(), out.String())
			}
		}
	}()
	for i := 1; i <= procs; i++ {
		p, err := startProc(fmt.Sprintf("%s%d", kind, i), sbsSpawner(kind, s.srv.URL()), &out)
		require.NoError(b, err)
		ps = append(ps, p)
	}
	resumeWhenPulling(ctx, b, s.js, sbsJobsStream, sbsConsumer, procs)

	b.StartTimer()
	start := time.Now()
	s.awaitResults(ctx, b, jobs, func() error {
		for _, p := range ps {
			if p.exited() {
				return fmt.Errorf("worker %s exited early: %v; the output:\n%s", p.name, p.exit(), out.String())
			}
		}
		return nil
	})
	b.StopTimer()
	return time.Since(start)
}

// resumeWhenPulling waits until procs pulls wait on the paused consumer,
// then resumes it and returns as it resumes. It resumes at a deadline:
// nats-server (2.15.2) wakes the pulls waiting on a paused consumer when
// its pause deadline passes, but not on a ResumeConsumer, after which they
// would wait out their expiry.
func resumeWhenPulling(ctx context.Context, b *testing.B, js jetstream.JetStream, stream, consumer string, procs int) {
	c, err := js.Consumer(ctx, stream, consumer)
	require.NoError(b, err)
	require.Eventually(b, func() bool {
		ci, err := c.Info(ctx)
		return err == nil && ci.NumWaiting >= procs
	}, time.Minute, 5*time.Millisecond, "every worker pulls")
	resume := time.Now().Add(50 * time.Millisecond)
	_, err = js.PauseConsumer(ctx, stream, consumer, resume)
	require.NoError(b, err)
	time.Sleep(time.Until(resume))
}

// sbsSpawner starts the test binary itself as a worker process of kind
// against the server at url.
func sbsSpawner(kind, url string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), sbsWorkerEnv+"="+kind, sbsURLEnv+"="+url)
	return cmd
}

// sbsWorkerFromEnv runs the worker of a process sbsSpawner started, until
// SIGTERM or SIGINT, and returns its exit code: 0 once it has stopped, 1
// if it failed.
func sbsWorkerFromEnv(kind string) int {
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	nc, err := nats.Connect(os.Getenv(sbsURLEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("working") // proc.started: the signals are ours

	switch kind {
	case "handwritten":
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-stop
			cancel()
		}()
		err = runHandWorker(ctx, js, 0)
	case "conveyor":
		err = conveyorWorker{stop: stop}.run(context.Background(), js)
	default:
		err = fmt.Errorf("%s=%q: not a worker", sbsWorkerEnv, kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
