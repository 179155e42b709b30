package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/jetstream"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

func TestReceipts(t *testing.T) {
	t.Run("a receipt settles Done only once its message is in the stream", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		const n = 200
		in := items(n)
		rs := receipts(n, 1, false)
		for _, r := range rs {
			r.check = func(id int, o source.Outcome) error {
				if o != source.Done {
					return fmt.Errorf("settled %v", o)
				}
				// One connection's async publishes are stored in order:
				// item id is the stream's message id+1.
				m, err := s.GetMsg(e.ctx(), uint64(id+1))
				if err != nil {
					return fmt.Errorf("settled Done before it was stored: %w", err)
				}
				var got item
				if err := json.Unmarshal(m.Data, &got); err != nil || got != in[id] {
					return fmt.Errorf("message %d holds %q", id+1, m.Data)
				}
				return nil
			}
		}

		st := pipeline.New(withReceipts(in, rs, nil)).Sink(jetstream.New[item](e.js, "out.x")).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(n), st.Counts.Done)
		for i, r := range rs {
			outcomes, _, problems := r.record()
			assert.Equal(t, []source.Outcome{source.Done}, outcomes, "item %d", i)
			assert.Empty(t, problems, "item %d", i)
		}
	})

	t.Run("an unconfirmed publish is never settled Done", func(t *testing.T) {
		e := start(t)
		e.stream()
		e.void()
		rs := receipts(3, 1, false)

		st := pipeline.New(withReceipts(items(3), rs, nil), pipeline.OnError(stage.Skip())).
			Sink(jetstream.New(e.js, "void.x", jetstream.AckTimeout[item](20*time.Millisecond))).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(3), st.Counts.Skipped)
		for i, r := range rs {
			outcomes, _, _ := r.record()
			assert.Equal(t, []source.Outcome{source.Skipped}, outcomes, "item %d", i)
		}
	})

	retry := stage.Retry(2, time.Millisecond, 2*time.Millisecond).Then(stage.Skip())
	for _, c := range []struct {
		name     string
		delivery int
		last     bool
		want     source.Outcome
	}{
		{"at delivery 1 a failed publish is requeued, not republished", 1, false, source.Requeued},
		{"at delivery 2 (the policy's last attempt) it takes the fallback", 2, false, source.Skipped},
		{"at the source's last delivery it takes the fallback", 1, true, source.Skipped},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			e.stream()
			w := &wrappedJS{JetStream: e.js}
			const n = 4
			rs := receipts(n, c.delivery, c.last)

			st := pipeline.New(withReceipts(items(n), rs, nil), pipeline.OnError(retry)).
				Sink(jetstream.New[item](w, "nowhere.x")).Run(t.Context())

			require.True(t, st.OK(), st.Message)
			assert.Zero(t, w.syncs.Load(), "no synchronous republish: the source redelivers")
			assert.Zero(t, st.Counts.Retried)
			assert.Zero(t, st.Counts.Done)
			if c.want == source.Requeued {
				assert.Equal(t, int64(n), st.Counts.Requeued)
			} else {
				assert.Equal(t, int64(n), st.Counts.Skipped)
			}
			for i, r := range rs {
				outcomes, after, _ := r.record()
				assert.Equal(t, []source.Outcome{c.want}, outcomes, "item %d", i)
				if c.want == source.Requeued {
					assert.Positive(t, after, "item %d: the policy's backoff", i)
					assert.LessOrEqual(t, after, 2*time.Millisecond, "item %d", i)
				}
			}
		})
	}
}

func TestMaxPending(t *testing.T) {
	// The sink waits for a place under the bound before it publishes an
	// item, and gives the place back once the item is settled: never more
	// than MaxPending publishes await confirmation.
	const maxPending = 4

	t.Run("the client never has more than MaxPending publishes outstanding", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		const n = 1000
		var most int
		src := source.Func(func(_ context.Context, yield func(item) bool) error {
			for _, v := range items(n) {
				most = max(most, e.js.PublishAsyncPending())
				if !yield(v) {
					return nil
				}
			}
			return nil
		})

		st := pipeline.New(src).Sink(jetstream.New(e.js, "out.x", jetstream.MaxPending[item](maxPending))).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(n), st.Counts.Done)
		assert.LessOrEqual(t, most, maxPending)
		assert.Equal(t, items(n), e.storedItems(s))
	})

	t.Run("with no confirmations, at most MaxPending items are published and unsettled", func(t *testing.T) {
		e := start(t)
		e.stream()
		e.void()
		const n = 12
		var settled atomic.Int64
		rs := receipts(n, 1, false)
		for _, r := range rs {
			r.settled = &settled
		}
		var most int64
		before := func(int) {
			// void.x never answers, so every publish stays pending in the
			// client: PublishAsyncPending counts the publishes so far. Read
			// it before the settled count, so that the difference can only
			// overestimate what is unsettled.
			published := int64(e.js.PublishAsyncPending())
			most = max(most, published-settled.Load())
		}

		st := pipeline.New(withReceipts(items(n), rs, before), pipeline.OnError(stage.Skip())).
			Sink(jetstream.New(e.js, "void.x", jetstream.MaxPending[item](maxPending), jetstream.AckTimeout[item](20*time.Millisecond))).
			Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(n), st.Counts.Skipped)
		assert.Equal(t, n, e.js.PublishAsyncPending(), "every item was published once")
		assert.LessOrEqual(t, most, int64(maxPending))
	})
}
