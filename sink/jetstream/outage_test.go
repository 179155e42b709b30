package jetstream_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/natsrun"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

// byID gives each message its item's id as Nats-Msg-Id.
var byID = jetstream.MsgID(func(v item) string { return strconv.Itoa(v.ID) })

func TestOutage(t *testing.T) {
	for _, c := range []struct {
		name string
		d    time.Duration
		opts []nats.Option
	}{
		{"", 200 * time.Millisecond, nil},
		{"", time.Second, nil},
		{"", 2 * time.Second, nil},
		// Without a reconnect buffer, a publish fails at once while the
		// connection is down.
		{", no reconnect buffer", time.Second, []nats.Option{nats.ReconnectBufSize(-1)}},
	} {
		t.Run(fmt.Sprintf("every item is stored once through an outage of %v%s", c.d, c.name), func(t *testing.T) {
			e, srv := startServer(t, c.opts...)
			s := e.stream()
			const n = 1000
			var wg sync.WaitGroup
			src := withReceipts(items(n), receipts(n, 1, false), func(i int) {
				if i == 200 {
					cut(t, srv, &wg, c.d)
				}
				time.Sleep(500 * time.Microsecond)
			})

			st := pipeline.New(src).Sink(jetstream.New(e.js, "out.x", byID)).Run(t.Context())
			wg.Wait()

			require.True(t, st.OK(), st.Message)
			assert.Positive(t, e.nc.Stats().Reconnects, "the run went through the outage")
			assert.Equal(t, int64(n), st.Counts.Done)
			assert.ElementsMatch(t, items(n), e.storedItems(s), "each item once")
		})
	}

	t.Run("an outage longer than MaxOutage fails the run, whatever the policy", func(t *testing.T) {
		e, srv := startServer(t)
		s := e.stream()
		const n = 1000
		const bound = 500 * time.Millisecond
		var wg sync.WaitGroup
		var at time.Time
		src := withReceipts(items(n), receipts(n, 1, false), func(i int) {
			if i == 200 {
				at = time.Now()
				cut(t, srv, &wg, 2*time.Second)
				// The items after this one go out during the outage: under
				// load, a server slow to shut down would let them all be
				// confirmed before it.
				require.Eventually(t, func() bool { return !e.nc.IsConnected() }, 10*time.Second, time.Millisecond)
			}
			time.Sleep(500 * time.Microsecond)
		})

		st := pipeline.New(src, pipeline.OnError(stage.Skip())).
			Sink(jetstream.New(e.js, "out.x", byID, jetstream.MaxOutage[item](bound))).Run(t.Context())
		took := time.Since(at)
		wg.Wait()

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, "NATS outage longer than 500ms, since ")
		assert.ErrorIs(t, st.Err, jetstream.ErrOutage)
		assert.Equal(t, "jetstream", st.Stage)
		assert.Zero(t, st.Counts.Skipped, "an outage is not the item's failure")
		assert.Equal(t, int64(1), st.Counts.Failed)
		assert.Equal(t, st.Counts.In, st.Counts.Done+st.Counts.Failed+st.Counts.Abandoned, "%+v", st.Counts)
		t.Logf("%s, %v after the server stopped", st.Message, took)
		assert.Less(t, took, bound+time.Second, "the run fails once the outage has lasted the bound, and returns within 1s")
		stored := e.storedItems(s)
		assert.Subset(t, items(n), stored)
		assert.GreaterOrEqual(t, len(stored), int(st.Counts.Done), "done only once stored")
	})
}

// cut stops srv for d, in a goroutine of wg: the run goes on.
func cut(t *testing.T, srv *natsrun.Server, wg *sync.WaitGroup, d time.Duration) {
	wg.Go(func() {
		if err := srv.Outage(d); err != nil {
			t.Error(err)
		}
	})
}
