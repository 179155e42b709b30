package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	sinkjs "github.com/conveyor-go/conveyor/sink/jetstream"
	"github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

// outage is a server that a test stops for a while, and a worker's
// connection to it, which reconnects by itself.
type outage struct {
	srv *natsrun.Server
	nc  *nats.Conn
	js  natsjs.JetStream
}

// newOutage starts a server with a work queue WORK (work.>, consumer
// "workers" with AckWait 2s) holding n jobs, and a stream RESULTS
// (results.>) that drops a result published twice, and connects to it
// with opts, after a reconnection every 50ms.
func newOutage(t *testing.T, n int, opts ...nats.Option) *outage {
	t.Helper()
	o := &outage{}
	var err error
	o.srv, err = natsrun.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(o.srv.Stop)
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	o.nc, err = nats.Connect(o.srv.URL(), opts...)
	require.NoError(t, err)
	t.Cleanup(o.nc.Close) // before the server stops
	o.js, err = natsjs.New(o.nc)
	require.NoError(t, err)
	ctx := testCtx(t)
	_, err = o.js.CreateStream(ctx, natsjs.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: natsjs.WorkQueuePolicy})
	require.NoError(t, err)
	_, err = o.js.CreateConsumer(ctx, "WORK", natsjs.ConsumerConfig{Durable: "workers", AckPolicy: natsjs.AckExplicitPolicy, AckWait: 2 * time.Second})
	require.NoError(t, err)
	_, err = o.js.CreateStream(ctx, natsjs.StreamConfig{Name: "RESULTS", Subjects: []string{"results.>"}, Duplicates: time.Minute})
	require.NoError(t, err)
	q := &queue{js: o.js}
	q.publish(t, ints(n)...)
	return o
}

// cut stops the server for d, in a goroutine of wg: the run goes on.
func (o *outage) cut(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	wg.Go(func() {
		if err := o.srv.Outage(d); err != nil {
			t.Error(err)
		}
	})
}

// result is what the worker publishes for a job.
type result struct{ Job, Square int }

// worker is source/jetstream -> ParMap(4) -> sink/jetstream with MsgID:
// a worker of a fleet. atJob is called with the number of jobs handled so
// far, at each.
func (o *outage) worker(atJob func(int64), srcOpts []jetstream.Option, sinkOpts []sinkjs.Option[result], opts ...pipeline.Option) *pipeline.Pipeline {
	var handled atomic.Int64
	srcOpts = append([]jetstream.Option{jetstream.UntilEmpty(), jetstream.MaxWait(200 * time.Millisecond)}, srcOpts...)
	sinkOpts = append([]sinkjs.Option[result]{sinkjs.MsgID(func(r result) string { return strconv.Itoa(r.Job) })}, sinkOpts...)
	return pipeline.New(jetstream.New[int](o.js, "WORK", "workers", srcOpts...), opts...).
		ParMap(4, stage.Func(func(_ context.Context, v int) (result, error) {
			atJob(handled.Add(1))
			time.Sleep(time.Millisecond)
			return result{v, v * v}, nil
		})).
		Sink(sinkjs.New(o.js, "results.x", sinkOpts...))
}

// results returns the jobs of the results stored, in order.
func (o *outage) results(t *testing.T) []int {
	t.Helper()
	ctx := testCtx(t)
	s, err := o.js.Stream(ctx, "RESULTS")
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var jobs []int
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		jobs = append(jobs, decodeResult(t, m.Data).Job)
	}
	return jobs
}

func TestAWorkerRidesThroughAShortServerOutage(t *testing.T) {
	for _, c := range []struct {
		name string
		d    time.Duration
		opts []nats.Option
	}{
		{"", 200 * time.Millisecond, nil},
		{"", time.Second, nil},
		{"", 2 * time.Second, nil},
		{"", 5 * time.Second, nil}, // the longest outage the issue measured
		// Without a reconnect buffer, a publish, an acknowledgement or a
		// pull request fails at once while the connection is down.
		{", no reconnect buffer", time.Second, []nats.Option{nats.ReconnectBufSize(-1)}},
	} {
		t.Run(fmt.Sprintf("outage %v%s", c.d, c.name), func(t *testing.T) {
			const n = 2000
			o := newOutage(t, n, c.opts...)
			core, logs := observer.New(zap.InfoLevel)
			var once sync.Once
			var wg sync.WaitGroup
			status := o.worker(func(handled int64) {
				if handled == 200 {
					once.Do(func() { o.cut(t, &wg, c.d) })
				}
			}, nil, nil, pipeline.WithLogger(zap.New(core))).Run(testCtx(t))
			wg.Wait()

			require.True(t, status.OK(), status.String())
			assert.Positive(t, o.nc.Stats().Reconnects, "the run went through the outage")
			assert.ElementsMatch(t, ints(n), toAny(o.results(t)), "every job's result, once")
			o.queue(t).emptiesAcrossRestarts(t)
			settled := logs.FilterMessage("messages settled").All()
			require.Len(t, settled, 1)
			t.Logf("%v, %+v", status.Duration, settled[0].ContextMap())
			assert.Zero(t, settled[0].ContextMap()["acks_not_sent"], "every acknowledgement sent, once the connection was back")
		})
	}
}

func TestAnOutageLongerThanTheBoundFailsTheRunAndLosesNothing(t *testing.T) {
	const n = 2000
	o := newOutage(t, n)
	const bound = time.Second
	var once sync.Once
	var wg sync.WaitGroup
	var cut time.Time
	status := o.worker(func(handled int64) {
		if handled == 200 {
			once.Do(func() {
				cut = time.Now()
				o.cut(t, &wg, 3*time.Second)
			})
		}
	}, []jetstream.Option{jetstream.MaxOutage(bound)}, []sinkjs.Option[result]{sinkjs.MaxOutage[result](bound)}).Run(testCtx(t))
	took := time.Since(cut)

	require.Equal(t, pipeline.CodeFailure, status.Code, status.String())
	assert.Contains(t, status.Message, "NATS outage longer than 1s, since ")
	assert.ErrorIs(t, status.Err, jetstream.ErrOutage)
	t.Logf("%s, %v after the server stopped", status.Message, took)
	assert.Less(t, took, bound+time.Second, "the run fails once the outage has lasted the bound, and returns within 1s")

	// Once the server is back, the next run finishes the jobs: none was
	// lost, and the results the first run stored are not stored twice.
	wg.Wait()
	status = o.worker(func(int64) {}, nil, nil).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	assert.ElementsMatch(t, ints(n), toAny(o.results(t)), "every job's result, once")
	o.queue(t).emptiesAcrossRestarts(t)
}

func TestAConsumerDeletedMidRunFailsItAtOnce(t *testing.T) {
	// A pull on a consumer that is gone gets "no responders", as one does
	// while JetStream restarts: the source asks, and does not wait out the
	// outage bound.
	const n = 500
	o := newOutage(t, n)
	var once sync.Once
	start := time.Now()
	status := o.worker(func(handled int64) {
		if handled == 100 {
			once.Do(func() { require.NoError(t, o.js.DeleteConsumer(testCtx(t), "WORK", "workers")) })
		}
	}, nil, nil).Run(testCtx(t))
	require.Equal(t, pipeline.CodeFailure, status.Code, status.String())
	// The pull in progress learns it first ("consumer deleted"), or the
	// next one's lookup ("consumer not found"): the run fails either way.
	if !errors.Is(status.Err, natsjs.ErrConsumerDeleted) {
		assert.ErrorIs(t, status.Err, natsjs.ErrConsumerNotFound)
	}
	assert.Equal(t, "WORK/workers", status.Target)
	assert.Less(t, time.Since(start), 10*time.Second, "well before the 30s bound")
}

// queue is the work queue, to check it empties.
func (o *outage) queue(t *testing.T) *queue {
	t.Helper()
	s, err := o.js.Stream(testCtx(t), "WORK")
	require.NoError(t, err)
	return &queue{js: o.js, stream: s}
}

func decodeResult(t *testing.T, data []byte) result {
	t.Helper()
	var r result
	require.NoError(t, json.Unmarshal(data, &r), "result %q", data)
	return r
}

func TestAcknowledgementsMadeInAnOutageAreSentOnceItEnds(t *testing.T) {
	// Without a reconnect buffer an acknowledgement fails at once while the
	// connection is down: the source sends it again once it is back. The
	// handler needs no server, so items go on being done in the outage.
	const n = 300
	o := newOutage(t, n, nats.ReconnectBufSize(-1))
	core, logs := observer.New(zap.InfoLevel)
	var once sync.Once
	var wg sync.WaitGroup
	var handled atomic.Int64
	status := pipeline.New(jetstream.New[int](o.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(200*time.Millisecond)),
		pipeline.WithLogger(zap.New(core))).
		Sink(sink.Func(func(context.Context, int) error {
			if handled.Add(1) == 50 {
				once.Do(func() { o.cut(t, &wg, time.Second) })
			}
			time.Sleep(5 * time.Millisecond)
			return nil
		})).Run(testCtx(t))
	wg.Wait()

	require.True(t, status.OK(), status.String())
	settled := logs.FilterMessage("messages settled").All()
	require.Len(t, settled, 1)
	t.Logf("%+v", settled[0].ContextMap())
	assert.Zero(t, settled[0].ContextMap()["acks_not_sent"], "every acknowledgement sent, once the connection was back")
	o.queue(t).emptiesAcrossRestarts(t)
}
