package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// handInFlight bounds the results a hand-written worker has published and
// not yet seen confirmed: the handler blocks once that many await their
// PubAck, as conveyor's sink does at its MaxPending.
const handInFlight = 1024

// handPending is a result awaiting its PubAck, and the job to acknowledge
// once it comes.
type handPending struct {
	ack jetstream.PubAckFuture
	job jetstream.Msg
}

// runHandWorker is the worker a user writes with nats.go alone: Consume
// with PullMaxMessages(500), each job decoded, transformed and published
// with PublishMsgAsync and a Nats-Msg-Id, and its job acknowledged, by a
// second goroutine, once the result's PubAck has come. It returns once it
// has acknowledged want jobs, or at the first error, or when ctx is done:
// with want 0 it runs until then (a worker process, stopped by a signal),
// and returns nil.
func runHandWorker(ctx context.Context, js jetstream.JetStream, want int) error {
	cons, err := js.Consumer(ctx, sbsJobsStream, sbsConsumer)
	if err != nil {
		return err
	}
	pending := make(chan handPending, handInFlight)
	stopped := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The acknowledger: PubAcks come back in the order of the publishes,
	// so waiting on each in turn costs nothing.
	var acked atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var p handPending
			select {
			case p = <-pending:
			case <-ctx.Done():
				return
			}
			select {
			case <-p.ack.Ok():
				if err := p.job.Ack(); err != nil {
					cancel(fmt.Errorf("acknowledging a job: %w", err))
					return
				}
				if acked.Add(1) == int64(want) {
					cancel(nil)
					return
				}
			case err := <-p.ack.Err():
				cancel(fmt.Errorf("publishing a result: %w", err))
				return
			case <-ctx.Done():
				return
			}
		}
	}()

	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ctx.Err() != nil {
			return
		}
		j, err := decodeSBSJob(m)
		if err != nil {
			cancel(fmt.Errorf("decoding job %q: %w", m.Data(), err))
			return
		}
		r := transformSBS(j)
		data, err := json.Marshal(r)
		if err != nil {
			cancel(err)
			return
		}
		msg := &nats.Msg{Subject: sbsResultSubject, Data: data, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, sbsResultID(r))
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			cancel(fmt.Errorf("publishing a result: %w", err))
			return
		}
		select {
		case pending <- handPending{ack: f, job: m}:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(500))
	if err != nil {
		return err
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	wg.Wait()
	if acked.Load() == int64(want) || want == 0 && stopped.Err() != nil && context.Cause(ctx) == context.Cause(stopped) {
		return nil
	}
	return context.Cause(ctx)
}
