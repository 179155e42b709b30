package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/source"
)

// item is what the tests publish.
type item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// items returns n items with the ids 0..n-1.
func items(n int) []item {
	vs := make([]item, n)
	for i := range vs {
		vs[i] = item{ID: i, Name: fmt.Sprintf("item-%d", i)}
	}
	return vs
}

// env is one test's embedded server, seen through one connection.
type env struct {
	t  *testing.T
	nc *nats.Conn
	js natsjs.JetStream
}

// start starts an embedded server for t, and connects to it. The
// connection is closed, then the server stopped, when t ends.
func start(t *testing.T) *env {
	t.Helper()
	e, _ := startServer(t)
	return e
}

// startServer is start, with the server to stop for a while (an outage),
// and a connection with opts that reconnects every 50ms, for as long as it
// takes.
func startServer(t *testing.T, opts ...nats.Option) (*env, *natsrun.Server) {
	t.Helper()
	srv, err := natsrun.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(srv.URL(), opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close) // cleanups run last-in first-out: before srv.Stop
	js, err := natsjs.New(nc)
	require.NoError(t, err)
	return &env{t: t, nc: nc, js: js}, srv
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// stream creates a stream OUT capturing out.>, with a deduplication window
// of a minute.
func (e *env) stream() natsjs.Stream {
	e.t.Helper()
	s, err := e.js.CreateStream(e.ctx(), natsjs.StreamConfig{Name: "OUT", Subjects: []string{"out.>"}, Duplicates: time.Minute})
	require.NoError(e.t, err)
	return s
}

// stored returns the messages s holds, oldest first.
func (e *env) stored(s natsjs.Stream) []*natsjs.RawStreamMsg {
	e.t.Helper()
	ctx := e.ctx()
	info, err := s.Info(ctx)
	require.NoError(e.t, err)
	var msgs []*natsjs.RawStreamMsg
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(e.t, err)
		msgs = append(msgs, m)
	}
	return msgs
}

// storedItems decodes the JSON messages s holds, oldest first.
func (e *env) storedItems(s natsjs.Stream) []item {
	e.t.Helper()
	var vs []item
	for _, m := range e.stored(s) {
		vs = append(vs, decode(e.t, m.Data))
	}
	return vs
}

func decode(t *testing.T, data []byte) item {
	t.Helper()
	var v item
	require.NoError(t, json.Unmarshal(data, &v), "message %q", data)
	return v
}

// void subscribes to void.>, a subject no stream captures but that has a
// subscriber which never answers: a JetStream publish there is delivered
// but never confirmed (no "no responders" either), so only the sink's
// AckTimeout ends the wait. It returns the number of messages the
// subscriber got, which is exact once synced.
func (e *env) void() (received func() int64) {
	e.t.Helper()
	var n atomic.Int64
	sentinel := make(chan struct{}, 1)
	_, err := e.nc.Subscribe("void.>", func(m *nats.Msg) {
		if m.Subject == "void.sentinel" {
			sentinel <- struct{}{}
			return
		}
		n.Add(1)
	})
	require.NoError(e.t, err)
	require.NoError(e.t, e.nc.Flush()) // the subscription is in place
	return func() int64 {
		// A connection's messages reach a subscriber in the order they
		// were published: once the sentinel arrived, so did every message
		// published before it.
		require.NoError(e.t, e.nc.Publish("void.sentinel", nil))
		select {
		case <-sentinel:
		case <-time.After(10 * time.Second):
			e.t.Fatal("the sentinel never came back")
		}
		return n.Load()
	}
}

// wrappedJS is a JetStream that counts synchronous publishes (the sink's
// retries), and loses the confirmation of the async publishes lose
// selects: it publishes them for real, but the future it returns never
// resolves, as if the server's answer got lost.
type wrappedJS struct {
	natsjs.JetStream
	lose  func(*nats.Msg) bool
	syncs atomic.Int64
}

func (w *wrappedJS) PublishMsgAsync(m *nats.Msg, opts ...natsjs.PublishOpt) (natsjs.PubAckFuture, error) {
	if w.lose != nil && w.lose(m) {
		if _, err := w.JetStream.PublishMsgAsync(m, opts...); err != nil {
			return nil, err
		}
		return lostAck{m}, nil
	}
	return w.JetStream.PublishMsgAsync(m, opts...)
}

func (w *wrappedJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...natsjs.PublishOpt) (*natsjs.PubAck, error) {
	w.syncs.Add(1)
	return w.JetStream.PublishMsg(ctx, m, opts...)
}

// lostAck is a publish whose confirmation never comes: its channels are
// nil, and a receive from them blocks.
type lostAck struct{ m *nats.Msg }

func (lostAck) Ok() <-chan *natsjs.PubAck { return nil }
func (lostAck) Err() <-chan error         { return nil }
func (a lostAck) Msg() *nats.Msg          { return a.m }

// receipt is a fake source.Receipt that records its Settle calls. check,
// when set, is called at each Settle and says what is wrong with settling
// the item now; the complaint is kept for the test's own goroutine.
type receipt struct {
	id      int
	n       int
	last    bool
	check   func(id int, o source.Outcome) error
	settled *atomic.Int64 // counts Settle calls across receipts, when set

	mu       sync.Mutex
	outcomes []source.Outcome
	after    time.Duration
	problems []string
}

func (r *receipt) Delivery() (int, bool) { return r.n, r.last }

func (r *receipt) Settle(o source.Outcome, after time.Duration) {
	var problem error
	if r.check != nil {
		problem = r.check(r.id, o)
	}
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.after = after
	if problem != nil {
		r.problems = append(r.problems, problem.Error())
	}
	r.mu.Unlock()
	if r.settled != nil {
		r.settled.Add(1)
	}
}

func (r *receipt) record() (outcomes []source.Outcome, after time.Duration, problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]source.Outcome(nil), r.outcomes...), r.after, append([]string(nil), r.problems...)
}

// receipts returns a receipt for each of the ids 0..n-1, at delivery n,
// last or not.
func receipts(n, delivery int, last bool) []*receipt {
	rs := make([]*receipt, n)
	for i := range rs {
		rs[i] = &receipt{id: i, n: delivery, last: last}
	}
	return rs
}

// withReceipts is a source yielding vs[i] with rs[i], calling before(i),
// when set, before each yield.
func withReceipts(vs []item, rs []*receipt, before func(i int)) *source.Of[item] {
	return source.WithReceipts(func(_ context.Context, yield func(item, source.Receipt) bool) error {
		for i, v := range vs {
			if before != nil {
				before(i)
			}
			if !yield(v, rs[i]) {
				return nil
			}
		}
		return nil
	})
}
