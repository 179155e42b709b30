package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// The trickle of BenchmarkScaleOutTrickle: trickleJobs jobs, one every
// trickleEvery.
const (
	trickleJobs  = 3000
	trickleEvery = time.Millisecond
)

// BenchmarkScaleOutTrickle measures the latency of one worker, in this
// process, when jobs come one at a time: 3,000 jobs of BenchmarkScaleOutWorker,
// published one every millisecond to a consumer the worker already pulls
// from. A job's latency is from its publish to its result reaching a
// subscriber of the results' subject: the result has reached the server,
// which stores it as it delivers it. p50-ms and p99-ms are their median
// and 99th percentile (nearest rank); handwritten is runHandWorker,
// conveyor the same worker as in BenchmarkScaleOutWorker with defaults,
// without UntilEmpty (the queue is often empty), drained at the end.
//
//	cd benchmarks
//	go run ./cmd/benchtable -dir ../examples/distributed -bench Trickle -benchtime 1x -count 5
func BenchmarkScaleOutTrickle(b *testing.B) {
	b.Run("handwritten", func(b *testing.B) {
		benchmarkTrickle(b, func(ctx context.Context, js jetstream.JetStream, _ <-chan os.Signal) error {
			return runHandWorker(ctx, js, trickleJobs)
		})
	})
	b.Run("conveyor", func(b *testing.B) {
		benchmarkTrickle(b, func(ctx context.Context, js jetstream.JetStream, stop <-chan os.Signal) error {
			return conveyorWorker{stop: stop}.run(ctx, js)
		})
	})
}

// benchmarkTrickle runs a worker that returns, once every job is
// acknowledged or once stop receives (a drain), b.N rounds of the trickle.
func benchmarkTrickle(b *testing.B, worker func(context.Context, jetstream.JetStream, <-chan os.Signal) error) {
	var lat []time.Duration
	b.StopTimer()
	for range b.N {
		lat = append(lat, trickleRound(b, worker)...)
	}
	s := slices.Sorted(slices.Values(lat))
	rank := func(p float64) float64 {
		return float64(s[max(0, int(math.Ceil(p*float64(len(s))))-1)]) / 1e6
	}
	b.ReportMetric(rank(0.50), "p50-ms")
	b.ReportMetric(rank(0.99), "p99-ms")
}

// trickleRound runs the trickle once, on a server of its own, and returns
// the latency of each job.
func trickleRound(b *testing.B, worker func(context.Context, jetstream.JetStream, <-chan os.Signal) error) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := newSBSServer(ctx, b)
	defer s.close()
	s.createConsumer(ctx, b)

	// The results' arrivals, by job: sent[id] is the job's publish time,
	// stored before its publish; each job's result comes once (a
	// redelivered job's result again would overwrite its latency).
	var sent [trickleJobs + 1]atomic.Int64
	var mu sync.Mutex
	lat := make(map[int]time.Duration, trickleJobs)
	all := make(chan struct{})
	nc := s.js.Conn()
	sub, err := nc.Subscribe(sbsResultSubject, func(m *nats.Msg) {
		at := time.Now().UnixNano()
		var r sbsResult
		if json.Unmarshal(m.Data, &r) != nil || r.JobID < 1 || r.JobID > trickleJobs {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		lat[r.JobID] = time.Duration(at - sent[r.JobID].Load())
		if len(lat) == trickleJobs {
			close(all)
		}
	})
	require.NoError(b, err)
	defer func() { _ = sub.Unsubscribe() }()
	require.NoError(b, nc.Flush())

	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	wjs := s.connect(b)
	go func() { done <- worker(ctx, wjs, stop) }()
	c, err := s.js.Consumer(ctx, sbsJobsStream, sbsConsumer)
	require.NoError(b, err)
	require.Eventually(b, func() bool {
		ci, err := c.Info(ctx)
		return err == nil && ci.NumWaiting >= 1
	}, time.Minute, 5*time.Millisecond, "the worker pulls")

	b.StartTimer()
	tick := time.NewTicker(trickleEvery)
	for id := 1; id <= trickleJobs; id++ {
		<-tick.C
		data, err := json.Marshal(newSBSJob(id))
		require.NoError(b, err)
		sent[id].Store(time.Now().UnixNano())
		_, err = s.js.PublishAsync(sbsJobSubject, data)
		require.NoError(b, err)
	}
	tick.Stop()
	// The hand-written worker returns once it has acknowledged every job,
	// which may be before the last result reached the subscriber.
	for waiting := true; waiting; {
		select {
		case <-all:
			waiting = false
		case err := <-done:
			require.NoError(b, err, "the worker failed")
			done = nil // returned: a nil channel is never ready
		case <-ctx.Done():
			mu.Lock()
			defer mu.Unlock()
			b.Fatalf("%d of %d results came", len(lat), trickleJobs)
		}
	}
	b.StopTimer()
	stop <- syscall.SIGTERM
	if done != nil {
		require.NoError(b, <-done)
	}

	mu.Lock()
	defer mu.Unlock()
	out := make([]time.Duration, 0, len(lat))
	for _, d := range lat {
		out = append(out, d)
	}
	return out
}
