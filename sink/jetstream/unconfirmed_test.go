package jetstream_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/jetstream"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

func TestUncapturedSubject(t *testing.T) {
	oneNowhere := jetstream.Subject(func(v item) string {
		if v.ID == 5 {
			return "nowhere.5"
		}
		return "out.x"
	})

	t.Run("fail fast: the run fails naming the subject", func(t *testing.T) {
		e := start(t)
		e.stream()

		st := pipeline.New(source.Slice(items(4))).Sink(jetstream.New[item](e.js, "nowhere.x")).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, natsjs.ErrNoStreamResponse)
		assert.Contains(t, st.Message, `"nowhere.x"`)
		assert.Equal(t, "jetstream", st.Stage)
		assert.Equal(t, "#0", st.Target)
		assert.Zero(t, st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Failed)
		assert.Equal(t, int64(3), st.Counts.Abandoned, "%+v", st.Counts)
		// The server answers "no responders" as it does while JetStream
		// restarts, but no stream captures the subject: not an outage.
		assert.Less(t, st.Duration, 5*time.Second, "it fails at once, not after the 30s outage bound")
	})

	t.Run("fail fast: the items confirmed before the failing one are done, no more", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		rs := receipts(10, 1, false)

		st := pipeline.New(withReceipts(items(10), rs, nil)).Sink(jetstream.New(e.js, "out.x", oneNowhere)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `"nowhere.5"`)
		assert.Equal(t, "#5", st.Target)
		// Confirmations are awaited in order: 0..4 were confirmed before 5
		// failed, and 6..9, published or not, were abandoned.
		assert.Equal(t, int64(5), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Failed)
		assert.Equal(t, int64(4), st.Counts.Abandoned)
		for i, r := range rs {
			outcomes, _, _ := r.record()
			switch {
			case i < 5:
				assert.Equal(t, []source.Outcome{source.Done}, outcomes, "item %d", i)
			case i == 5:
				assert.Equal(t, []source.Outcome{source.Failed}, outcomes, "item %d", i)
			default:
				assert.Empty(t, outcomes, "item %d: abandoned items are not settled", i)
			}
		}
		got := e.storedItems(s)
		require.GreaterOrEqual(t, len(got), 5)
		assert.Equal(t, items(5), got[:5])
		for _, v := range got {
			assert.NotEqual(t, 5, v.ID)
		}
	})

	t.Run("skip: every item counts as skipped", func(t *testing.T) {
		e := start(t)
		s := e.stream()

		st := pipeline.New(source.Slice(items(5)), pipeline.OnError(stage.Skip())).
			Sink(jetstream.New[item](e.js, "nowhere.x")).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(5), st.Counts.Skipped)
		assert.Zero(t, st.Counts.Done)
		assert.Empty(t, e.stored(s))
	})

	t.Run("skip: the one item is skipped and the others stored", func(t *testing.T) {
		e := start(t)
		s := e.stream()

		st := pipeline.New(source.Slice(items(10)), pipeline.OnError(stage.Skip())).
			Sink(jetstream.New(e.js, "out.x", oneNowhere)).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(9), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Skipped)
		want := append(items(5), items(10)[6:]...)
		assert.Equal(t, want, e.storedItems(s))
	})

	t.Run("retry: it publishes again, synchronously, then falls back", func(t *testing.T) {
		e := start(t)
		e.stream()
		w := &wrappedJS{JetStream: e.js}

		st := pipeline.New(source.Slice(items(2)), pipeline.OnError(stage.Retry(2, time.Millisecond, 2*time.Millisecond).Then(stage.Skip()))).
			Sink(jetstream.New[item](w, "nowhere.x")).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(2), st.Counts.Skipped)
		assert.Equal(t, int64(2), st.Counts.Retried)
		assert.Equal(t, int64(2), w.syncs.Load(), "one synchronous republish per item")
	})

	t.Run("retry then fail fast: the last republish's error names the subject", func(t *testing.T) {
		e := start(t)
		e.stream()

		st := pipeline.New(source.Slice(items(2)), pipeline.OnError(stage.Retry(2, time.Millisecond, 2*time.Millisecond))).
			Sink(jetstream.New[item](e.js, "nowhere.x")).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, natsjs.ErrNoStreamResponse)
		assert.Contains(t, st.Message, `publishing to "nowhere.x": `, "found by the connector fault suite (seed 801170046533)")
	})
}

func TestAckTimeout(t *testing.T) {
	t.Run("each publish's timeout runs from its own publish, not after the one before", func(t *testing.T) {
		e := start(t)
		e.void()
		const timeout = 200 * time.Millisecond
		st := pipeline.New(source.Slice(items(20)), pipeline.OnError(stage.Skip())).
			Sink(jetstream.New(e.js, "void.x", jetstream.AckTimeout[item](timeout))).Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(20), st.Counts.Skipped)
		// One after another, the timeouts would take 20 x 200ms = 4s.
		assert.Less(t, st.Duration, 10*timeout, "the 20 publishes wait together")
	})
	for _, src := range []struct {
		name string
		of   func([]item) *source.Of[item]
	}{{"in runs", source.Slice[item]}, {"one at a time", oneAtATime}} {
		t.Run("no publish fails before its timeout has run from its own publish, items pushed "+src.name, func(t *testing.T) {
			e := start(t)
			e.stream()
			// Two runs of source.Slice, and below the failure budget's
			// minimum of 100 items.
			const n, timeout = 90, 100 * time.Millisecond
			var mu sync.Mutex
			published := make([]time.Time, n)
			failed := make([]time.Time, n)
			// Every confirmation is lost: each publish fails at its deadline.
			w := &wrappedJS{JetStream: e.js, lose: func(m *nats.Msg) bool {
				id, err := strconv.Atoi(m.Header.Get(natsjs.MsgIDHeader))
				require.NoError(t, err)
				mu.Lock()
				published[id] = time.Now()
				mu.Unlock()
				return true
			}}
			record := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
				mu.Lock()
				failed[d.Item.(item).ID] = time.Now()
				mu.Unlock()
				return nil
			})

			st := pipeline.New(src.of(items(n)), pipeline.OnError(record)).
				Sink(jetstream.New(w, "out.x", byID, jetstream.AckTimeout[item](timeout))).Run(t.Context())

			require.True(t, st.OK(), st.Message)
			assert.Equal(t, int64(n), st.Counts.DeadLettered)
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				assert.GreaterOrEqual(t, failed[i].Sub(published[i]), timeout, "item %d", i)
			}
		})
	}

	t.Run("fail fast: a publish left unconfirmed fails the run naming the subject", func(t *testing.T) {
		e := start(t)
		e.stream()
		received := e.void()
		const timeout = 100 * time.Millisecond

		st := pipeline.New(source.Slice(items(3))).
			Sink(jetstream.New(e.js, "void.x", jetstream.AckTimeout[item](timeout))).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `"void.x"`)
		assert.Contains(t, st.Message, "did not confirm")
		assert.Equal(t, "jetstream", st.Stage)
		assert.Equal(t, "#0", st.Target)
		assert.Zero(t, st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Failed)
		assert.GreaterOrEqual(t, st.Duration, timeout, "the sink waited its AckTimeout")
		// void.x never answers: every message published is still pending
		// in the client, and was delivered to the subscriber.
		published := e.js.PublishAsyncPending()
		assert.GreaterOrEqual(t, published, 1)
		assert.Equal(t, int64(published), received(), "the messages were delivered, just never confirmed")
	})

	t.Run("retry: each item is published again once, synchronously, then skipped", func(t *testing.T) {
		e := start(t)
		e.stream()
		received := e.void()
		w := &wrappedJS{JetStream: e.js}

		st := pipeline.New(source.Slice(items(2)), pipeline.OnError(stage.Retry(2, time.Millisecond, 2*time.Millisecond).Then(stage.Skip()))).
			Sink(jetstream.New(w, "void.x", jetstream.AckTimeout[item](50*time.Millisecond))).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(2), st.Counts.Skipped)
		assert.Zero(t, st.Counts.Done)
		assert.Equal(t, int64(2), st.Counts.Retried)
		assert.Equal(t, int64(2), w.syncs.Load())
		assert.Equal(t, int64(4), received(), "2 async publishes and 2 synchronous republishes")
	})

	t.Run("retry after a lost confirmation: with MsgID the item is stored once", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		w := &wrappedJS{JetStream: e.js, lose: func(m *nats.Msg) bool { return m.Header.Get(natsjs.MsgIDHeader) == "3" }}
		snk := jetstream.New(w, "out.x", jetstream.AckTimeout[item](100*time.Millisecond),
			jetstream.MsgID(func(v item) string { return strconv.Itoa(v.ID) }))

		st := pipeline.New(source.Slice(items(10)), pipeline.OnError(stage.Retry(3, time.Millisecond, 2*time.Millisecond))).
			Sink(snk).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(10), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Retried)
		assert.Equal(t, int64(1), w.syncs.Load())
		assert.ElementsMatch(t, items(10), e.storedItems(s), "each item once")
	})

	t.Run("retry after a lost confirmation: without MsgID the item is stored twice", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		w := &wrappedJS{JetStream: e.js, lose: func(m *nats.Msg) bool {
			var v item
			return json.Unmarshal(m.Data, &v) == nil && v.ID == 3
		}}
		snk := jetstream.New(w, "out.x", jetstream.AckTimeout[item](100*time.Millisecond))

		st := pipeline.New(source.Slice(items(10)), pipeline.OnError(stage.Retry(3, time.Millisecond, 2*time.Millisecond))).
			Sink(snk).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(10), st.Counts.Done)
		assert.ElementsMatch(t, append(items(10), items(10)[3]), e.storedItems(s))
	})
}

// oneAtATime is a source that yields vs one by one: the sink gets each item
// through Push, not a run through PushRun.
func oneAtATime(vs []item) *source.Of[item] {
	return source.Func(func(_ context.Context, yield func(item) bool) error {
		for _, v := range vs {
			if !yield(v) {
				return nil
			}
		}
		return nil
	})
}
