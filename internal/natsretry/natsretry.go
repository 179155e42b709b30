// Package natsretry carries the NATS connectors (source/jetstream,
// sink/jetstream) through a server outage: it tells the errors an outage
// causes (a lost connection, a server restarting, a JetStream leader
// election) from the others, and retries a call that fails with one of
// them, with backoff, until the outage has lasted longer than a bound.
package natsretry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// DefaultBound is how long the connectors ride through an outage unless
// told otherwise.
const DefaultBound = 30 * time.Second

// ProbeTimeout bounds a request that asks the server whether an error is
// an outage's or a mistake's (is there a stream for this subject?).
const ProbeTimeout = time.Second

// The backoff between the calls of Retry doubles from firstWait to
// maxWait.
const (
	firstWait = 50 * time.Millisecond
	maxWait   = time.Second
)

// transient are the errors of calls made while the server is away or not
// ready: the connection is down or reconnecting (and, with the reconnect
// buffer disabled or full, a publish fails at once), a request times out,
// no one answers (JetStream not up yet after a restart; ambiguous, see
// Permanent), a pull is cut by a shutdown, a leader change or missed
// heartbeats.
var transient = []error{
	nats.ErrDisconnected, nats.ErrConnectionReconnecting, nats.ErrReconnectBufExceeded,
	nats.ErrStaleConnection, nats.ErrTimeout, context.DeadlineExceeded,
	nats.ErrNoResponders, natsjs.ErrNoStreamResponse,
	natsjs.ErrServerShutdown, natsjs.ErrConsumerLeadershipChanged, natsjs.ErrNoHeartbeat,
}

// Transient reports whether err is one that a server outage causes and
// that goes away once the server is back. A closed connection is not: it
// will not come back.
func Transient(err error) bool {
	var p *permanentError
	if err == nil || errors.As(err, &p) || errors.Is(err, nats.ErrConnectionClosed) {
		return false
	}
	for _, t := range transient {
		if errors.Is(err, t) {
			return true
		}
	}
	// A JetStream API error "service unavailable" is transient (a cluster
	// without a leader, say), but for JetStream not enabled: a mistake.
	var api *natsjs.APIError
	return errors.As(err, &api) && api.Code == http.StatusServiceUnavailable &&
		api.ErrorCode != natsjs.JSErrCodeJetStreamNotEnabled && api.ErrorCode != natsjs.JSErrCodeJetStreamNotEnabledForAccount
}

// Permanent marks err as not transient, whatever it wraps: the caller
// found out that it is a mistake, not an outage (a "no responders" where
// no stream captures the subject, or where the consumer is gone).
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// OutageError is the error of a call that kept failing with transient
// errors for longer than the outage bound.
type OutageError struct {
	Bound time.Duration // the outage bound
	Since time.Time     // when the first of the failed calls began
	Err   error         // the last call's error
}

func (e *OutageError) Error() string {
	return fmt.Sprintf("NATS outage longer than %v, since %s: %v", e.Bound, e.Since.Format("15:04:05.000"), e.Err)
}

func (e *OutageError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrOutage) true for an *OutageError.
func (e *OutageError) Is(target error) bool { return target == ErrOutage }

// ErrOutage is matched (errors.Is) by the error of a run that a NATS
// outage longer than its bound failed. The connectors export it, as
// source/jetstream.ErrOutage and sink/jetstream.ErrOutage.
var ErrOutage = errors.New("NATS outage longer than the bound")

// Retry calls f, and calls it again while it fails with a transient error,
// waiting between calls from 50ms, doubling up to 1s, until it succeeds,
// fails with another error (returned as is), or has failed for longer than
// bound since its first call began: then it returns an *OutageError. It
// returns ctx's error if ctx is done while it waits. Each call gets a
// context that ends when the bound has passed, which bounds the requests
// it makes (see Request). The success of a first call costs nothing more
// than the call and that context.
func Retry(ctx context.Context, bound time.Duration, f func(context.Context) error) error {
	since := time.Now()
	call := func() error {
		cctx, cancel := context.WithDeadline(ctx, since.Add(bound))
		defer cancel()
		return f(cctx)
	}
	err := call()
	if !Transient(err) {
		return err
	}
	for wait := firstWait; ; wait = min(2*wait, maxWait) {
		left := bound - time.Since(since)
		if left <= 0 {
			return &OutageError{Bound: bound, Since: since, Err: err}
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if err = call(); !Transient(err) {
			return err
		}
	}
}

// Request makes one request on conn, f, with a context that ends after
// timeout (or ctx's deadline, if sooner: the outage bound under Retry), or
// as soon as conn loses its connection: a request sent on a connection
// that drops is lost with it, and waiting out its timeout would let an
// outage outlast its bound while the server is back. A request cut so
// fails with nats.ErrDisconnected (transient), to be made again once
// reconnected; one made while conn reconnects is sent on reconnection,
// and is not cut.
func Request(ctx context.Context, conn *nats.Conn, timeout time.Duration, f func(context.Context) error) error {
	lost := conn.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var cut atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, ok := <-lost; ok { // not closed by RemoveStatusListener: the connection dropped
			cut.Store(true)
			cancel()
		}
	}()
	err := f(rctx)
	conn.RemoveStatusListener(lost)
	<-done
	if err != nil && cut.Load() && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", nats.ErrDisconnected, err)
	}
	return err
}

// Connected is the error of an attempt made while conn is not connected:
// nil when it is, nats.ErrConnectionClosed when it will not be again, and
// nats.ErrDisconnected (transient) while it reconnects. An attempt that
// starts with it waits for the connection rather than for a timeout.
func Connected(conn *nats.Conn) error {
	switch {
	case conn.IsConnected():
		return nil
	case conn.IsClosed():
		return nats.ErrConnectionClosed
	default:
		return nats.ErrDisconnected
	}
}
