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
	// it has been quiet for stopQuiet (stopGrace at most).
	stopping, stop := context.WithCancel(ctx)
	defer stop()
	ss.sc.Run.OnDrain(stop)
	ss.onGenerated(stop)

	var cons natsjs.Consumer
	err := ss.retry(stopping, func(ctx context.Context) error {
		return ss.request(ctx, func(ctx context.Context) (err error) {
			cons, err = ss.bind(ctx)
			return err
		})
	})
	for err == nil && stopping.Err() == nil {
		var got int
		err = ss.retry(stopping, func(bounded context.Context) (err error) {
			got, err = ss.pull(ctx, stopping, cons)
			return ss.probe(bounded, cons, err)
		})
		if err != nil || got > 0 || !ss.src.cfg.untilEmpty || stopping.Err() != nil {
			continue
		}
		var empty bool
		err = ss.retry(stopping, func(ctx context.Context) error {
			return ss.request(ctx, func(ctx context.Context) (err error) {
				empty, err = ss.empty(ctx, cons)
				return err
			})
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
// has lasted longer than MaxOutage. f's context ends when MaxOutage has
// passed.
func (ss *session[T]) retry(ctx context.Context, f func(context.Context) error) error {
	nc := ss.src.js.Conn()
	return natsretry.Retry(ctx, ss.src.cfg.maxOutage, func(ctx context.Context) error {
		if err := natsretry.Connected(nc); err != nil {
			return err
		}
		return f(ctx)
	})
}

// request makes one request to the server, f, for at most ProbeTimeout
// (less if ctx, retry's, ends sooner), and not past the connection's loss
// (see natsretry.Request): an outage's path must not wait for the answer
// to a request the outage lost. nats.go's own timeout, 5s, would outlast
// a short MaxOutage.
func (ss *session[T]) request(ctx context.Context, f func(context.Context) error) error {
	return natsretry.Request(ctx, ss.src.js.Conn(), natsretry.ProbeTimeout, f)
}

// probe tells a pull that no one answered because JetStream is not ready
// (a server restarting: an outage) from one whose consumer is gone (an
// error), by asking for the consumer; it returns the error to go on with.
func (ss *session[T]) probe(ctx context.Context, cons natsjs.Consumer, err error) error {
	if !errors.Is(err, nats.ErrNoResponders) {
		return err
	}
	ierr := ss.request(ctx, func(ctx context.Context) error {
		_, err := cons.Info(ctx)
		return err
	})
	if errors.Is(ierr, natsjs.ErrConsumerNotFound) || errors.Is(ierr, natsjs.ErrStreamNotFound) {
		return ierr
	}
	return err
}

// At a hard stop, a pull goes on while messages come, to let in what the
// server has sent it already (a few milliseconds on their way): it ends
// once none has come for stopQuiet, stopGrace after the stop at most. Kept
// open longer, it would take deliveries the server makes after the stop
// (a requeued message whose delay passes, one another worker gave back),
// only to give them back: each spends one of the message's MaxDeliver.
const (
	stopQuiet = 20 * time.Millisecond
	stopGrace = 200 * time.Millisecond
)

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
// not cancel a pull request. A hard stop (ctx) ends it once quiet (see stopQuiet):
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
	var grace, quiet <-chan time.Time
	var quietT *time.Timer
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
			if quietT != nil {
				quietT.Reset(stopQuiet)
			}
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
			quietT = time.NewTimer(stopQuiet)
			defer quietT.Stop()
			hard, grace, quiet = nil, t.C, quietT.C
		case <-grace:
			cancel()
			grace, quiet = nil, nil
		case <-quiet:
			cancel()
			grace, quiet = nil, nil
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
