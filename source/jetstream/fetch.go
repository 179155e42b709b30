package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
)

// fetch binds the consumer and pulls batches from it, handing each message
// to the generator, until the run drains or stops, the generator returns,
// or (UntilEmpty) the consumer has nothing left. It rides through a server
// outage shorter than MaxOutage: each of its calls is made again once the
// connection is back. It closes arrived when it returns.
func (ss *session[T]) fetch(ctx context.Context) error {
	defer ss.fetched()
	ss.runCtx = ctx
	// A drain, or the generator's return, stops the pulling: the pull in
	// progress ends at its MaxWait, and what arrives meanwhile is given
	// back once it has ended. A hard stop (ctx) ends the pull after
	// stopGrace.
	stopping, stop := context.WithCancel(ctx)
	defer stop()
	ss.sc.Run.OnDrain(stop)
	ss.onGenerated(stop)

	var cons natsjs.Consumer
	err := ss.retry(stopping, func() (err error) {
		cons, err = ss.bind(stopping)
		return err
	})
	for err == nil && stopping.Err() == nil {
		var got int
		err = ss.retry(stopping, func() (err error) {
			got, err = ss.pull(ctx, stopping, cons)
			return ss.probe(stopping, cons, err)
		})
		if err != nil || got > 0 || !ss.src.cfg.untilEmpty || stopping.Err() != nil {
			continue
		}
		var empty bool
		err = ss.retry(stopping, func() (err error) {
			empty, err = ss.empty(stopping, cons)
			return err
		})
		if empty {
			return nil
		}
	}
	if err != nil && stopping.Err() == nil {
		return ss.fail(err)
	}
	return nil
}

// retry calls f, each time once the connection is up, until it succeeds,
// fails with an error that is not an outage's, ctx is done, or the outage
// has lasted longer than MaxOutage.
func (ss *session[T]) retry(ctx context.Context, f func() error) error {
	nc := ss.src.js.Conn()
	return natsretry.Retry(ctx, ss.src.cfg.maxOutage, func() error {
		if err := natsretry.Connected(nc); err != nil {
			return err
		}
		return f()
	})
}

// probe tells a pull that no one answered because JetStream is not ready
// (a server restarting: an outage) from one whose consumer is gone (an
// error), by asking for the consumer; it returns the error to go on with.
func (ss *session[T]) probe(ctx context.Context, cons natsjs.Consumer, err error) error {
	if !errors.Is(err, nats.ErrNoResponders) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, natsretry.ProbeTimeout)
	defer cancel()
	if _, ierr := cons.Info(ctx); errors.Is(ierr, natsjs.ErrConsumerNotFound) || errors.Is(ierr, natsjs.ErrStreamNotFound) {
		return ierr
	}
	return err
}

// stopGrace is how long a pull goes on after a hard stop, to let in what
// the server has sent it already.
const stopGrace = 200 * time.Millisecond

// bind looks the consumer up and checks that it acknowledges explicitly.
func (ss *session[T]) bind(ctx context.Context) (natsjs.Consumer, error) {
	s := ss.src
	cons, err := s.js.Consumer(ctx, s.stream, s.consumer)
	if err != nil {
		return nil, err
	}
	cfg := cons.CachedInfo().Config
	if cfg.AckPolicy != natsjs.AckExplicitPolicy {
		return nil, errNotExplicit
	}
	ss.maxDeliver = cfg.MaxDeliver
	every := s.cfg.keepAlive
	if every == 0 {
		every = max(cfg.AckWait/3, 10*time.Millisecond)
	}
	ss.every.Store(int64(every))
	return cons, nil
}

// pull fetches one batch and hands its messages over, or, once the source
// is stopping, holds them to give back when the pull has ended. It returns
// how many messages arrived. Each message is held the moment it arrives,
// even while the generator has no room for it, so that keepAlive covers it.
//
// A message given back while the pull is open would be delivered again at
// once to this same pull, which has room for it: given back only once the
// pull has ended, it goes to the next worker that pulls.
//
// A drain lets the pull run its course (MaxWait at most): the server does
// not cancel a pull request. A hard stop (ctx) ends it after stopGrace:
// its subscription is then removed, and the server drops a pull request
// that no one listens to. The grace lets in what the server had sent it
// already, which would otherwise count as delivered and come back only
// after AckWait; what the server sends in the last moment before it
// learns that no one listens still does.
func (ss *session[T]) pull(ctx, stopping context.Context, cons natsjs.Consumer) (int, error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ss.src.cfg.maxWait)
	defer cancel()
	batch, err := cons.Fetch(ss.src.cfg.batch, natsjs.FetchContext(pctx))
	if err != nil {
		return 0, err
	}
	hard := ctx.Done()
	var grace <-chan time.Time
	got := 0
	msgs, stop := batch.Messages(), stopping.Done()
	var queue []*receipt // held, not yet handed over
	var back []*receipt  // held, to give back once the pull has ended
	for msgs != nil || (len(queue) > 0 && stop != nil) {
		var out chan<- *receipt
		var next *receipt
		if len(queue) > 0 {
			out, next = ss.arrived, queue[0]
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			got++
			r := ss.hold(m)
			if stop == nil {
				back = append(back, r)
				continue
			}
			queue = append(queue, r)
		case out <- next:
			queue = queue[1:]
		case <-stop:
			back = append(back, queue...)
			queue, stop = nil, nil
		case <-hard:
			t := time.NewTimer(stopGrace)
			defer t.Stop()
			hard, grace = nil, t.C
		case <-grace:
			cancel()
			grace = nil
		}
	}
	for _, r := range back {
		r.giveBack()
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, natsjs.ErrNoMessages) {
		return got, err
	}
	return got, nil
}

// empty reports whether the consumer has nothing left for anyone but what
// this run holds.
func (ss *session[T]) empty(ctx context.Context, cons natsjs.Consumer) (bool, error) {
	info, err := cons.Info(ctx)
	if err != nil {
		return false, err
	}
	ss.mu.Lock()
	held := len(ss.held)
	ss.mu.Unlock()
	return info.NumPending == 0 && info.NumAckPending <= held, nil
}

// fail is the error of the source when its consumer fails, labelled
// "STREAM/consumer".
func (ss *session[T]) fail(err error) error {
	return &flow.Error{Stage: ss.sc.Name, Index: ss.sc.Index, Label: ss.src.stream + "/" + ss.src.consumer, Err: err}
}
