// Package jetstream is a source that pulls items from a durable consumer of
// a NATS JetStream stream, most often a work queue shared by many worker
// processes, with at-least-once delivery: each message is acknowledged only
// once the item made from it, and everything made from that item, has left
// the pipeline (see source.Receipt).
//
// What happens to a message follows the item's fate:
//
//   - done (the sink wrote it) or dropped by a Filter: Ack;
//   - skipped, or dead-lettered (after the dead-letter function returned):
//     Term, which removes it from a work-queue stream;
//   - failed under a Retry policy with attempts left: Nak with the policy's
//     backoff as delay, so that any worker gets it again; each delivery is
//     one attempt, and the last (the policy's, or the consumer's
//     MaxDeliver) takes the policy's fallback;
//   - failed under fail-fast, or still in the pipeline when the run stops:
//     given back (Nak) once the run has stopped pulling, and delivered
//     again at once to whoever pulls next. Given back while a pull of the
//     run is open, it would come back to that pull, again and again.
//
// The consumer must exist (nats.go's CreateOrUpdateConsumer) and use
// AckExplicit. Its AckWait, MaxAckPending and MaxDeliver are the knobs of
// delivery: see the README's "Scaling out".
//
// # Outages, crashes and stops
//
// A server outage (a restart, a lost connection) shorter than MaxOutage,
// 30s by default, does not fail the run: while the connection is down, or
// JetStream not ready, the source waits and pulls again once it is back,
// and sends again the acknowledgements that failed meanwhile. A longer
// outage fails the run, with an error that names the bound and when the
// outage began. The connection must reconnect by itself (nats.go gives up
// after 60 attempts 2s apart unless told otherwise: nats.MaxReconnects(-1)
// never does). An acknowledgement sent just as the connection went down,
// or one the server got just before it stopped, may be lost: its message
// comes back after the consumer's AckWait, and its item is done twice,
// which at-least-once delivery allows; a sink that stores an item once
// (sink/jetstream's MsgID, an upsert) makes it harmless. A consumer or a
// stream that is gone is not an outage, although a pull on it gets the
// answer of a server restarting ("no responders"): the source asks the
// server which, and fails the run without waiting out the bound.
//
// A worker that dies without a word (SIGKILL, a lost machine) acknowledges
// nothing: the server delivers its messages again once the consumer's
// AckWait has passed. Messages that a live run holds longer than that, in
// its buffers or in a slow handler, are kept from redelivery with
// InProgress.
//
// A drain (the first signal), or the end of the queue, stops the pulling
// at once: the source drains its pull (nats.go's ConsumeContext.Drain: the
// client unsubscribes, and the server drops a pull request no one listens
// to), lets in what the server had sent it already, and gives that back
// once the pull has closed, 300ms after the stop at most (a round trip to
// the server: about 1ms here). Run returns once the items already taken
// are done, whatever MaxWait (2ms after the drain measured, with nothing
// left to do).
//
// A hard stop (a cancelled context, the second signal) or a failure that
// stops the run stops the pulling the same way, and gives back at once
// what the run holds: Run returns within 1s (under 1ms measured). A
// message the server sends in the last moment, before it learns that no
// one listens, counts as delivered and comes back only after AckWait.
//
// Any message the server sends counts as a delivery, whoever reads it: a
// delivery that reaches the pull of a stopping run (a requeued message
// whose delay passes in the stop's last milliseconds) is given back
// unseen, or lost in flight, and spends one of the consumer's MaxDeliver.
// With a finite MaxDeliver, a hard stop can so strand a message whose last
// delivery arrives in the last instant of the stop. Leave MaxDeliver
// unlimited (-1) and let the Retry policy count the attempts.
package jetstream

import (
	"errors"
	"fmt"
	"reflect"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// Source is a source of T items decoded from the messages of a JetStream
// consumer. It holds only configuration: each run binds the consumer anew.
type Source[T any] struct {
	name     string
	invalid  string
	js       natsjs.JetStream
	stream   string
	consumer string
	cfg      config
	decode   func(natsjs.Msg) (T, error)
}

var _ source.Source = (*Source[int])(nil)

// New makes a source of the durable consumer named consumer on stream.
// Messages are decoded as JSON into T unless a Decoder says otherwise; a
// message that is not valid JSON for T is not retried (see Decoder). Bad
// arguments make a pipeline that reports them before anything starts
// (CodeInvalid).
func New[T any](js natsjs.JetStream, stream, consumer string, opts ...Option) *Source[T] {
	s := &Source[T]{name: "jetstream", js: js, stream: stream, consumer: consumer, cfg: collect(opts), decode: decodeJSON[T]}
	switch {
	case js == nil:
		s.invalid = "nil JetStream"
	case stream == "":
		s.invalid = "no stream name"
	case consumer == "":
		s.invalid = "no consumer name"
	case s.cfg.err != "":
		s.invalid = s.cfg.err
	}
	if s.cfg.decode != nil {
		d, ok := s.cfg.decode.(func(natsjs.Msg) (T, error))
		if !ok {
			s.invalid = fmt.Sprintf("the decoder makes %s, the source emits %s",
				reflect.TypeOf(s.cfg.decode).Out(0), flow.TypeOf[T]())
		}
		s.decode = d
	}
	return s
}

// Named returns a copy of the source named name in errors and logs.
func (s *Source[T]) Named(name string) *Source[T] {
	c := *s
	c.name = name
	return &c
}

// Name returns the source's name; "jetstream" unless set with Named.
func (s *Source[T]) Name() string { return s.name }

// Out returns the type of the emitted items.
func (s *Source[T]) Out() reflect.Type { return flow.TypeOf[T]() }

// Next returns the builder of stages that may follow the source.
func (s *Source[T]) Next() stage.Next { return stage.NextOf[T]() }

// Err says why the source cannot run, or returns nil.
func (s *Source[T]) Err() error {
	if s.invalid == "" {
		return nil
	}
	return &flow.BuildError{Stage: s.name, Reason: s.invalid}
}

// Start registers the run's goroutines: the one that pulls, the one that
// emits, and the one that keeps held messages from redelivery. It is
// called by the pipeline.
func (s *Source[T]) Start(sc *flow.Scope, down any) error {
	if s.invalid != "" {
		return sc.Invalid(s.invalid)
	}
	g, err := flow.NewGuard[natsjs.Msg](sc, nil, msgLabel)
	if err != nil {
		return err
	}
	ss := newSession(s, sc, g)
	sc.Run.OnEnd(ss.end)
	sc.Go(ss.fetch)
	sc.Go(ss.keepAlive)
	return source.WithReceipts(ss.generate).Named(s.name).Start(sc, down)
}

// msgLabel names a message in errors and logs by its stream and sequence
// number, as "ORDERS#42".
func msgLabel(m natsjs.Msg) string {
	md, err := m.Metadata()
	if err != nil {
		return "message on " + m.Subject()
	}
	return fmt.Sprintf("%s#%d", md.Stream, md.Sequence.Stream)
}

// errNotExplicit is the error of a consumer that does not acknowledge each
// message on its own.
var errNotExplicit = errors.New("the consumer must use AckExplicit, so that each message is acknowledged when its item has left the pipeline")

// ErrOutage is matched (errors.Is) by the error of a run that a NATS
// outage longer than MaxOutage failed. It is the same value as
// sink/jetstream.ErrOutage.
var ErrOutage = natsretry.ErrOutage
