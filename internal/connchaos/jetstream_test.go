package connchaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	sinkjs "github.com/conveyor-go/conveyor/sink/jetstream"
	"github.com/conveyor-go/conveyor/source/jetstream"
)

// jsEnv is a run's part of the shared NATS server: a connection of its
// own, a work-queue stream IN<seed> with the durable consumer "w" holding
// the inputs, and a stream OUT<seed> for the sink's messages. Both streams
// are deleted when the run ends.
type jsEnv struct {
	r       *runState
	nc      *nats.Conn
	js      natsjs.JetStream
	in, out string // stream names; "" when the run has none
	prefix  string // of the run's subjects: prefix.in.ID, prefix.out.ID, prefix.void.ID
}

const consumerName = "w"

// opCtx is the context of the test's own calls to the server.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// openJS connects to the shared server and makes the run's streams,
// filling IN with the inputs. The connection reconnects without end,
// quickly, as a worker's should to ride through a server restart.
func (r *runState) openJS() error {
	srv, err := server()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(5*time.Millisecond, 5*time.Millisecond))
	if err != nil {
		return err
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	tag := strconv.FormatUint(uint64(r.s.seed), 10)
	e := &jsEnv{r: r, nc: nc, js: js, prefix: "cc" + tag}
	r.js = e
	ctx, cancel := opCtx()
	defer cancel()
	if r.s.src.kind == srcJetStream {
		e.in = "IN" + tag
		src := r.s.src
		if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: e.in, Subjects: []string{e.prefix + ".in.>"}, Retention: natsjs.WorkQueuePolicy}); err != nil {
			return fmt.Errorf("stream %s: %w", e.in, err)
		}
		cfg := natsjs.ConsumerConfig{Durable: consumerName, AckPolicy: natsjs.AckExplicitPolicy, AckWait: src.ackWait,
			MaxDeliver: src.maxDeliver, MaxAckPending: src.maxAckPending}
		if _, err := js.CreateConsumer(ctx, e.in, cfg); err != nil {
			return fmt.Errorf("consumer of %s: %w", e.in, err)
		}
		for id := range src.n {
			data, _ := json.Marshal(rec{ID: id, V: id})
			if _, err := js.PublishAsync(e.prefix+".in."+strconv.Itoa(id), data); err != nil {
				return fmt.Errorf("publishing input %d: %w", id, err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			return errors.New("publishing the inputs: not confirmed within 10s")
		}
	}
	if r.s.sink.kind == snkJetStream {
		e.out = "OUT" + tag
		if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: e.out, Subjects: []string{e.prefix + ".out.>"}, Duplicates: time.Minute}); err != nil {
			return fmt.Errorf("stream %s: %w", e.out, err)
		}
	}
	return nil
}

// close deletes the run's streams and closes its connection.
func (e *jsEnv) close() {
	ctx, cancel := opCtx()
	defer cancel()
	for _, name := range []string{e.in, e.out} {
		if name != "" {
			_ = e.js.DeleteStream(ctx, name) // a stream left behind costs only disk in a temporary store
		}
	}
	e.nc.Close()
}

// source is the JetStream source of the run; clean is the follow-up's,
// which runs until the queue is empty and injects nothing.
func (e *jsEnv) source(clean bool) *jetstream.Source[rec] {
	src := e.r.s.src
	if clean {
		return jetstream.New[rec](e.js, e.in, consumerName, jetstream.UntilEmpty(), jetstream.MaxWait(50*time.Millisecond),
			jetstream.FetchBatch(64), jetstream.Decoder(e.decoder(true)))
	}
	opts := []jetstream.Option{jetstream.FetchBatch(src.fetch), jetstream.MaxWait(src.maxWait), jetstream.Decoder(e.decoder(false))}
	if src.untilEmpty {
		opts = append(opts, jetstream.UntilEmpty())
	}
	if d := e.r.s.run.maxOutage; d > 0 {
		opts = append(opts, jetstream.MaxOutage(d))
	}
	return jetstream.New[rec](e.js, e.in, consumerName, opts...)
}

// decoder decodes a message into a rec, noting its deliveries; the main
// run's also counts it as seen and runs the decode position's faults.
func (e *jsEnv) decoder(clean bool) func(natsjs.Msg) (rec, error) {
	r := e.r
	return func(m natsjs.Msg) (rec, error) {
		var v rec
		if err := json.Unmarshal(m.Data(), &v); err != nil {
			r.violatef("decoder: message %q is none of the inputs: %v", m.Data(), err)
			return v, err
		}
		md, err := m.Metadata()
		if err != nil {
			r.violatef("decoder: the metadata of input %d: %v", v.ID, err)
			return v, err
		}
		r.mu.Lock()
		r.delivered[v.ID] = max(r.delivered[v.ID], md.NumDelivered)
		if !clean {
			r.decodes[v.ID]++
		}
		r.mu.Unlock()
		if clean {
			return v, nil
		}
		r.observe()
		return v, r.inject(src0, r.s.src.decodeRate, []int{v.ID})
	}
}

// src0 is the position of the source's decoder in the fault plan.
const src0 = 0

// sink is the run's JetStream sink: an item goes to prefix.out.ID, or to
// prefix.void.ID, which no stream captures, when the plan fails the call.
func (e *jsEnv) sink(clean bool) sink.Sink {
	r, sk := e.r, e.r.s.sink
	subject := func(v rec) string {
		if !clean && r.connectorFault(sk.idx, sk.rate, v.ID, "a subject no stream captures", nil) {
			return e.prefix + ".void." + strconv.Itoa(v.ID)
		}
		return e.prefix + ".out." + strconv.Itoa(v.ID)
	}
	opts := []sinkjs.Option[rec]{sinkjs.Subject(subject)}
	if sk.msgID {
		opts = append(opts, sinkjs.MsgID(func(v rec) string { return strconv.Itoa(v.ID) }))
	}
	if d := r.s.run.maxOutage; d > 0 && !clean {
		opts = append(opts, sinkjs.MaxOutage[rec](d))
	}
	return sinkjs.New[rec](e.js, "", opts...)
}

// streamIDs returns the inputs of the messages stream holds, counted.
func (e *jsEnv) streamIDs(stream string) (map[int]int, error) {
	ctx, cancel := opCtx()
	defer cancel()
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[int]int{}
	if info.State.Msgs == 0 {
		return ids, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			continue // acknowledged, or terminated
		}
		if err != nil {
			return nil, fmt.Errorf("message %d of %s: %w", seq, stream, err)
		}
		var v rec
		if err := json.Unmarshal(m.Data, &v); err != nil {
			return nil, fmt.Errorf("message %d of %s: %q: %w", seq, stream, m.Data, err)
		}
		ids[v.ID]++
	}
	return ids, nil
}

// consumerState describes the consumer, for the report of a run that left
// messages in its queue.
func (e *jsEnv) consumerState() string {
	ctx, cancel := opCtx()
	defer cancel()
	c, err := e.js.Consumer(ctx, e.in, consumerName)
	if err != nil {
		return err.Error()
	}
	info, err := c.Info(ctx)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("consumer: %d pending, %d awaiting ack, %d redelivered, ack floor %d, delivered %d",
		info.NumPending, info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream, info.Delivered.Stream)
}

// followUp runs a clean worker over the queue until it is empty, into the
// run's sink: what the main run left in the queue is taken now. It runs
// under its own watchdog.
func (r *runState) followUp() (pipeline.ExitStatus, string) {
	p := r.sinkInto(pipeline.New(r.js.source(true)), true)
	return runWatched(p, 10*time.Second+2*r.s.src.ackWait)
}

// outage stops the shared server, and starts it again on its port and
// store after the drawn time, or at once when Run has returned. The outage
// ends (evRestart) once JetStream answers again, which takes a while after
// the server takes connections: it recovers its streams first.
func (r *runState) outage() {
	r.record(evOutage)
	natsSrv.srv.Stop()
	r.sleep(r.s.run.outageFor)
	err := startAgain()
	if err != nil {
		r.violatef("outage: the server did not start again: %v", err)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err = r.js.js.AccountInfo(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.record(evRestart)
	if err != nil {
		r.violatef("outage: JetStream did not answer within 10s of the server's restart: %v", err)
	}
}

// startAgain starts the shared server again on its port and store, once
// the port is free again (it may take a moment after a stop).
func startAgain() error {
	var err error
	for range 100 {
		var srv *natsrun.Server
		if srv, err = natsrun.StartAt(natsSrv.dir, natsSrv.port); err == nil {
			natsSrv.srv = srv
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}
