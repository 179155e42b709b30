package jetstream

import (
	"encoding/json"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/internal/natsretry"
)

// Option configures a Source.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	batch      int
	maxWait    time.Duration
	keepAlive  time.Duration // 0: a third of the consumer's AckWait
	decode     any           // a func(natsjs.Msg) (T, error), checked by New
	untilEmpty bool
	maxOutage  time.Duration
	err        string
}

func collect(opts []Option) config {
	c := config{batch: 500, maxWait: time.Second, maxOutage: natsretry.DefaultBound}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// FetchBatch sets how many messages the source asks the server for ahead
// of the pipeline: 500 by default (as fast as 256 in BenchmarkScaleOutWorker,
// with half the pull requests). The source keeps a pull open (nats.go's
// Consume with PullMaxMessages(n)), renewed when half of it has arrived,
// and holds each message, kept from redelivery, from the moment it
// reaches the source. The hand-off to the pipeline holds n messages at
// most: beyond it, the source waits, and up to n more wait in the client,
// not yet held (a stall of the pipeline longer than the consumer's AckWait
// lets the server deliver those again). So a run holds about 2n messages
// at most beyond those in its stages, whatever the consumer's
// MaxAckPending, which bounds what all workers hold together.
func FetchBatch(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.err = fmt.Sprintf("fetch batch must be >= 1, got %d", n)
		}
		c.batch = n
	})
}

// MaxWait sets how long one pull request waits at the server before the
// client renews it (nats.go's PullExpiry, 1s at least): 1s by default. It
// does not bound a stop: a stop ends the pull at once (see the package
// doc). A pull request lost in transit is made again after two missed
// heartbeats, a heartbeat every half of it, 1s at most.
func MaxWait(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d < time.Millisecond {
			c.err = fmt.Sprintf("max wait must be >= 1ms, got %v", d)
		}
		c.maxWait = d
	})
}

// MaxOutage sets how long the source rides through a server outage: 30s
// by default. While the connection is down or the server not ready (a
// restart), the source waits for it, trying again with a backoff from
// 50ms up to 1s, and sends again the acknowledgements that could not be
// sent. An outage longer than d fails the run, with an error that names d
// and when the outage began. The connection must be one that reconnects
// (nats.go's MaxReconnects): a closed connection fails the run at once.
func MaxOutage(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.err = fmt.Sprintf("max outage must be > 0, got %v", d)
		}
		c.maxOutage = d
	})
}

// KeepAlive sets how often the messages the run holds are reported in
// progress to the server, which then restarts their AckWait: a third of the
// consumer's AckWait by default.
func KeepAlive(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.err = fmt.Sprintf("keep-alive interval must be > 0, got %v", d)
		}
		c.keepAlive = d
	})
}

// UntilEmpty makes the source end, and the run finish once its items have
// left, when the consumer has nothing left to deliver to anyone, nor
// delivered and unacknowledged: a batch job over a work queue. A message
// whose metadata says that none is pending behind it makes the source ask
// the server at once, then every 10ms while no message says otherwise; a
// single worker's run so ends within about 10ms of the server getting its
// last acknowledgement, and each of several workers within about 50ms of
// the consumer being empty and every message settled (4-12ms measured). The messages this run holds count as
// unacknowledged, so that one whose acknowledgement an outage lost comes
// back to this run, unless their items have not settled for 200ms (a
// stage that waits for the source's end): then the source ends once what
// is unacknowledged is at most what it holds. A message that another
// worker held when it died counts as unacknowledged until the server
// delivers it again (after AckWait), so the run waits for it. By default
// the source runs until the run is drained or stopped.
func UntilEmpty() Option {
	return optionFunc(func(c *config) { c.untilEmpty = true })
}

// Decoder sets how a message becomes an item: by default its data is
// decoded as JSON into the item type. The decoder sees the whole message,
// so it can read headers and metadata (Metadata's NumDelivered counts the
// deliveries). Its type must match the source's item type, or the source
// is invalid. A message it fails on goes through the pipeline's error
// policy like a failed item, labelled with its stream and sequence number
// ("ORDERS#42"): the dead-letter function gets the natsjs.Msg.
//
// A decoder marks with stage.Permanent the errors that decoding the message
// again would give again (bad data): a Retry policy then takes its fallback
// on the first delivery instead of having the message delivered again. An
// error it does not mark is retried, as an error that may heal (a lookup
// that timed out). The default JSON decoder marks all its errors.
func Decoder[T any](f func(natsjs.Msg) (T, error)) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			c.err = "nil decoder"
			return
		}
		c.decode = f
	})
}

// decodeJSON is the default decoder. Its errors are permanent: the same
// bytes never decode on a later delivery.
func decodeJSON[T any](m natsjs.Msg) (T, error) {
	var v T
	if err := json.Unmarshal(m.Data(), &v); err != nil {
		return v, flow.Permanent(err)
	}
	return v, nil
}
