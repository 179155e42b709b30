package natsretry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/internal/natsretry"
	"github.com/conveyor-go/conveyor/internal/natsrun"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{nats.ErrDisconnected, true},
		{fmt.Errorf("publishing: %w", nats.ErrConnectionReconnecting), true},
		{nats.ErrReconnectBufExceeded, true},
		{nats.ErrTimeout, true},
		{context.DeadlineExceeded, true},
		{nats.ErrNoResponders, true},
		{natsjs.ErrNoStreamResponse, true},
		{natsjs.ErrServerShutdown, true},
		{natsjs.ErrNoHeartbeat, true},
		{&natsjs.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{natsjs.ErrJetStreamNotEnabled, false},
		{natsjs.ErrJetStreamNotEnabledForAccount, false},
		{nats.ErrConnectionClosed, false},
		{context.Canceled, false},
		{natsjs.ErrConsumerNotFound, false},
		{natsjs.ErrStreamNotFound, false},
		{natsretry.Permanent(natsjs.ErrNoStreamResponse), false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, natsretry.Transient(c.err), "%v", c.err)
	}
	p := natsretry.Permanent(fmt.Errorf("no stream: %w", natsjs.ErrNoStreamResponse))
	assert.ErrorIs(t, p, natsjs.ErrNoStreamResponse, "a permanent error still says what it is")
}

func TestRetry(t *testing.T) {
	t.Run("an outage shorter than the bound: the call that succeeds ends it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			calls := 0
			err := natsretry.Retry(t.Context(), 30*time.Second, func(context.Context) error {
				calls++
				if time.Since(start) < 10*time.Second {
					return nats.ErrDisconnected
				}
				return nil
			})
			require.NoError(t, err)
			// At 0, then after 50ms, 100, 200, 400, 800ms, then every second.
			assert.Equal(t, 15, calls)
			assert.Equal(t, 10550*time.Millisecond, time.Since(start))
		})
	})
	t.Run("an outage longer than the bound fails once the bound has passed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			err := natsretry.Retry(t.Context(), 3*time.Second, func(context.Context) error { return nats.ErrNoResponders })
			var oe *natsretry.OutageError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, 3*time.Second, time.Since(start), "the last wait is cut to the bound")
			assert.Equal(t, 3*time.Second, oe.Bound)
			assert.Equal(t, start, oe.Since)
			assert.ErrorIs(t, err, nats.ErrNoResponders)
			assert.Equal(t, "NATS outage longer than 3s, since "+start.Format("15:04:05.000")+": nats: no responders available for request", err.Error())
		})
	})
	t.Run("another error returns at once", func(t *testing.T) {
		calls := 0
		err := natsretry.Retry(t.Context(), time.Hour, func(context.Context) error {
			calls++
			if calls == 1 {
				return nats.ErrTimeout
			}
			return natsjs.ErrConsumerNotFound
		})
		assert.ErrorIs(t, err, natsjs.ErrConsumerNotFound)
		assert.Equal(t, 2, calls)
	})
	t.Run("a done context ends the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err := natsretry.Retry(ctx, time.Hour, func(context.Context) error { return nats.ErrDisconnected })
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 2*time.Second, time.Since(start))
		})
	})
}

func TestRetryBoundsEachCallByTheOutageBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var deadlines []time.Time
		err := natsretry.Retry(t.Context(), 3*time.Second, func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			require.True(t, ok)
			deadlines = append(deadlines, d)
			return nats.ErrDisconnected
		})
		require.ErrorIs(t, err, natsretry.ErrOutage)
		for _, d := range deadlines {
			assert.Equal(t, start.Add(3*time.Second), d, "each call ends with the bound")
		}
	})
}

// TestRequest: a request lost with its connection ends as the connection
// drops, not at its timeout, and says so (transient); one that is not
// answered in time ends at its timeout.
func TestRequest(t *testing.T) {
	srv, err := natsrun.Start(t.TempDir())
	require.NoError(t, err)
	defer srv.Stop()
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	got := make(chan struct{}, 1)
	_, err = nc.Subscribe("mute", func(*nats.Msg) { got <- struct{}{} }) // takes requests, answers none
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	request := func(ctx context.Context) error {
		_, err := nc.RequestWithContext(ctx, "mute", nil)
		return err
	}

	start := time.Now()
	err = natsretry.Request(t.Context(), nc, 100*time.Millisecond, request)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, nats.ErrDisconnected)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	<-got

	go func() {
		<-got
		srv.Stop() // the request is lost with the connection
	}()
	start = time.Now()
	err = natsretry.Request(t.Context(), nc, time.Minute, request)
	took := time.Since(start)
	require.ErrorIs(t, err, nats.ErrDisconnected)
	assert.True(t, natsretry.Transient(err))
	assert.Less(t, took, 5*time.Second, "a request lost with its connection waits for the drop, not its timeout of a minute")
}
