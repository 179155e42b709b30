// Package jetstream is a sink that publishes items to a NATS JetStream
// stream. It publishes asynchronously, with a bounded number of publishes
// awaiting the server's acknowledgement, and counts an item as done (and
// acknowledges the source messages it came from, see source/jetstream) only
// once the server has confirmed that the stream stored it.
//
// A publish the server does not confirm (an error, or no answer within
// AckTimeout) is a failure of that item under the pipeline's error policy,
// as for any stage: fail fast by default, or retried (published again,
// synchronously), skipped or dead-lettered. It is never dropped silently.
//
// With MsgID, each message carries a Nats-Msg-Id header, and the stream
// stores only the first of messages with the same id within its
// deduplication window (Duplicates, 2 minutes by default): a worker that
// publishes an item again after a crash then adds nothing.
//
// # Outages, crashes and stops
//
// A publish that fails because of a server outage (the connection lost,
// the server restarting, JetStream not ready) is not its item's failure:
// the sink publishes it again, synchronously, once the connection is back,
// holding the stages before it meanwhile, until the outage has lasted
// MaxOutage, 30s by default. A longer outage fails the run whatever the
// error policy, with an error that names the bound and when the outage
// began; the items not confirmed are abandoned, so their source messages
// come back. A publish whose confirmation the outage lost may have been
// stored: published again, it is stored twice, unless MsgID is set. The
// connection must reconnect by itself (nats.MaxReconnects). A subject
// that no stream captures is not an outage, although the server answers
// it as it does while JetStream starts ("no responders"): the sink asks
// the server which, and the item fails under the error policy without
// waiting out the bound.
//
// A worker that crashes loses the publishes awaiting confirmation. Their
// items were not done, so their source messages come back and are
// published again: with MsgID, the second publish adds nothing.
//
// A hard stop (a cancelled context, the second signal) ends the wait for
// confirmations at once: the items already confirmed are done, the others
// abandoned, though they may be stored (MsgID again).
package jetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
	"github.com/conveyor-go/conveyor/sink"
)

// Sink is a sink of T items published to a JetStream stream.
type Sink[T any] struct {
	name    string
	invalid string
	js      natsjs.JetStream
	subject func(T) string
	// subjectSet says the Subject option replaced New's subject.
	subjectSet bool
	encode     func(T) ([]byte, error)
	msgID      func(T) string
	pending    int
	timeout    time.Duration
	maxOutage  time.Duration
}

var _ sink.Sink = (*Sink[int])(nil)

// New makes a sink publishing each item to subject, which a stream must
// capture, encoded as JSON unless Encoder says otherwise. Bad arguments make
// a pipeline that reports them before anything starts (CodeInvalid).
func New[T any](js natsjs.JetStream, subject string, opts ...Option[T]) *Sink[T] {
	s := &Sink[T]{name: "jetstream", js: js, subject: func(T) string { return subject },
		encode: encodeJSON[T], pending: 1024, timeout: 10 * time.Second, maxOutage: natsretry.DefaultBound}
	for _, o := range opts {
		if o != nil {
			o.apply(s)
		}
	}
	switch {
	case s.invalid != "":
	case js == nil:
		s.invalid = "nil JetStream"
	case subject == "" && !s.subjectSet:
		s.invalid = "no subject"
	}
	return s
}

// Option configures a Sink of T items.
type Option[T any] interface{ apply(*Sink[T]) }

type optionFunc[T any] func(*Sink[T])

func (f optionFunc[T]) apply(s *Sink[T]) { f(s) }

// Encoder sets how an item becomes a message's data: JSON by default. An
// encoding error is a failure of the item under the error policy.
func Encoder[T any](f func(T) ([]byte, error)) Option[T] {
	return optionFunc[T](func(s *Sink[T]) {
		if f == nil {
			s.invalid = "nil encoder"
		}
		s.encode = f
	})
}

// Subject publishes each item to the subject f gives it, in place of the
// subject given to New, which may then be "".
func Subject[T any](f func(T) string) Option[T] {
	return optionFunc[T](func(s *Sink[T]) {
		if f == nil {
			s.invalid = "nil subject function"
		}
		s.subject, s.subjectSet = f, true
	})
}

// MsgID gives each message the Nats-Msg-Id f gives its item, so that the
// stream stores an item published twice (by a worker that died before it
// acknowledged its input, and the worker that got the input next) once.
func MsgID[T any](f func(T) string) Option[T] {
	return optionFunc[T](func(s *Sink[T]) {
		if f == nil {
			s.invalid = "nil message id function"
		}
		s.msgID = f
	})
}

// MaxPending sets how many publishes may await the server's confirmation:
// 1024 by default (with 256, a worker that publishes ~100 B results moved
// 0.83x of what a hand-written nats.go worker with 1024 in flight moves;
// with 1024, 0.92x: examples/distributed's BenchmarkScaleOutWorker). When they are all awaited, the sink waits, before it
// publishes the next item, until the oldest are settled, which holds the
// stages before it back. Keep it below the JetStream context's own limit
// (natsjs.WithPublishAsyncMaxPending, 4000 by default), past which a
// publish stalls and fails.
func MaxPending[T any](n int) Option[T] {
	return optionFunc[T](func(s *Sink[T]) {
		if n < 1 {
			s.invalid = fmt.Sprintf("max pending must be >= 1, got %d", n)
		}
		s.pending = n
	})
}

// AckTimeout sets how long a publish may wait for the server's
// confirmation before it counts as failed: 10s by default. It runs from
// the publish, never earlier; for the items of a run (a source that emits
// several at once, such as source.Slice), from the end of the run's
// publishes, 64 at most: about 0.1 ms later for items of 100 bytes of
// JSON (BenchmarkPublish), more with a slow Encoder.
func AckTimeout[T any](d time.Duration) Option[T] {
	return optionFunc[T](func(s *Sink[T]) {
		if d <= 0 {
			s.invalid = fmt.Sprintf("ack timeout must be > 0, got %v", d)
		}
		s.timeout = d
	})
}

// MaxOutage sets how long the sink rides through a server outage: 30s by
// default. A publish that fails because the connection is down, or the
// server is not ready (a restart), is published again, synchronously, once
// the connection is back, with a backoff from 50ms up to 1s, and is not a
// failure of its item. An outage longer than d fails the run, whatever the
// error policy, with an error that names d and when the outage began. The
// connection must be one that reconnects (nats.go's MaxReconnects): a
// closed connection is not an outage.
func MaxOutage[T any](d time.Duration) Option[T] {
	return optionFunc[T](func(s *Sink[T]) {
		if d <= 0 {
			s.invalid = fmt.Sprintf("max outage must be > 0, got %v", d)
		}
		s.maxOutage = d
	})
}

// Named returns a copy of the sink named name in errors and logs.
func (s *Sink[T]) Named(name string) *Sink[T] {
	c := *s
	c.name = name
	return &c
}

// Name returns the sink's name; "jetstream" unless set with Named.
func (s *Sink[T]) Name() string { return s.name }

// In returns the type of the items the sink takes.
func (s *Sink[T]) In() reflect.Type { return flow.TypeOf[T]() }

// Err says why the sink cannot run, or returns nil.
func (s *Sink[T]) Err() error {
	if s.invalid == "" {
		return nil
	}
	return &flow.BuildError{Stage: s.name, Reason: s.invalid}
}

// Attach returns the Port that feeds the sink, and registers the goroutine
// that awaits the server's confirmations. It is called by the pipeline.
func (s *Sink[T]) Attach(sc *flow.Scope) (any, error) {
	if s.invalid != "" {
		return nil, sc.Invalid(s.invalid)
	}
	g, err := flow.NewGuard[T](sc, nil, nil)
	if err != nil {
		return nil, err
	}
	failFast := flow.FailFast()
	fatal, err := flow.NewGuard[T](sc, &failFast, nil)
	if err != nil {
		return nil, err
	}
	p := &port[T]{s: s, g: g, fatal: fatal, done: sc.Run.Tally(flow.Done), h: newHandoff[T](s.pending),
		epoch: time.Now(), confirmed: make(chan struct{})}
	p.build = p.message
	sc.Go(p.confirm)
	return flow.Metered[T](sc, p), nil
}

// message builds the message of item v. Its Nats-Msg-Id value shares the
// message's allocation; without MsgID, it has no header at all.
func (s *Sink[T]) message(v T) (*nats.Msg, error) {
	data, err := s.encode(v)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	if s.msgID == nil {
		return &nats.Msg{Subject: s.subject(v), Data: data}, nil
	}
	m := &struct {
		msg nats.Msg
		id  [1]string
	}{msg: nats.Msg{Subject: s.subject(v), Data: data, Header: make(nats.Header, 1)}, id: [1]string{s.msgID(v)}}
	m.msg.Header[natsjs.MsgIDHeader] = m.id[:]
	return &m.msg, nil
}

func encodeJSON[T any](v T) ([]byte, error) { return json.Marshal(v) }

// errNotConfirmed is the error of a publish the server did not confirm in
// time.
var errNotConfirmed = errors.New("the server did not confirm the publish in time")

// ErrOutage is matched (errors.Is) by the error of a run that a NATS
// outage longer than MaxOutage failed. It is the same value as
// source/jetstream.ErrOutage.
var ErrOutage = natsretry.ErrOutage
