package jetstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
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

var errEncode = errors.New("cannot encode")

func TestPublish(t *testing.T) {
	t.Run("every item is stored once, in order, as JSON, and is done once confirmed", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		const n = 1000
		in := items(n)

		st := pipeline.New(source.Slice(in)).Sink(jetstream.New[item](e.js, "out.x")).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(n), st.Counts.Done)
		assert.Equal(t, int64(n), st.Counts.In)
		msgs := e.stored(s)
		require.Len(t, msgs, n)
		for i, m := range msgs {
			assert.Equal(t, "out.x", m.Subject)
			assert.Equal(t, in[i], decode(t, m.Data), "message %d", i)
			assert.Empty(t, m.Header.Get(natsjs.MsgIDHeader), "no MsgID, no Nats-Msg-Id")
		}
		assert.Zero(t, e.js.PublishAsyncPending(), "every publish was confirmed")
	})

	t.Run("Subject and Encoder decide each message's subject and data", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		in := items(20)
		snk := jetstream.New(e.js, "out.unused",
			jetstream.Subject(func(v item) string { return fmt.Sprintf("out.%s", []string{"even", "odd"}[v.ID%2]) }),
			jetstream.Encoder(func(v item) ([]byte, error) { return []byte(fmt.Sprintf("%d|%s", v.ID, v.Name)), nil }))

		st := pipeline.New(source.Slice(in)).Sink(snk).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(20), st.Counts.Done)
		msgs := e.stored(s)
		require.Len(t, msgs, 20)
		for i, m := range msgs {
			assert.Equal(t, []string{"out.even", "out.odd"}[i%2], m.Subject, "message %d", i)
			assert.Equal(t, fmt.Sprintf("%d|item-%d", i, i), string(m.Data))
		}
	})

	t.Run("one sink value serves two runs", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		snk := jetstream.New[item](e.js, "out.x")

		require.True(t, pipeline.New(source.Slice(items(3))).Sink(snk).Run(t.Context()).OK())
		st := pipeline.New(source.Slice(items(5))).Sink(snk).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(5), st.Counts.Done, "each run counts its own items")
		assert.Equal(t, append(items(3), items(5)...), e.storedItems(s))
	})
}

func TestEncoderError(t *testing.T) {
	failOn3 := jetstream.Encoder(func(v item) ([]byte, error) {
		if v.ID == 3 {
			return nil, errEncode
		}
		return []byte(strconv.Itoa(v.ID)), nil
	})

	for _, name := range []string{"", "orders"} {
		t.Run("fail fast: the run fails naming the sink and the item, name "+name, func(t *testing.T) {
			e := start(t)
			s := e.stream()
			snk := jetstream.New(e.js, "out.x", failOn3)
			want := "jetstream"
			if name != "" {
				snk, want = snk.Named(name), name
			}

			st := pipeline.New(source.Slice(items(10))).Sink(snk).Run(t.Context())

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, errEncode)
			assert.Equal(t, want, st.Stage)
			assert.Equal(t, "#3", st.Target)
			assert.Contains(t, st.Message, strconv.Quote(want))
			assert.Contains(t, st.Message, "#3")
			assert.Contains(t, st.Message, "encoding")
			var se *stage.Error
			require.ErrorAs(t, st.Err, &se)
			assert.Equal(t, want, se.Stage)
			assert.Equal(t, 1, se.Index, "the sink follows the source")
			assert.Equal(t, int64(1), st.Counts.Failed)

			// Nothing from item 3 on was published; of the three before it,
			// only confirmed ones count as done.
			msgs := e.stored(s)
			assert.LessOrEqual(t, len(msgs), 3)
			for _, m := range msgs {
				id, err := strconv.Atoi(string(m.Data))
				require.NoError(t, err)
				assert.Less(t, id, 3)
			}
			assert.LessOrEqual(t, st.Counts.Done, int64(len(msgs)), "an item is done only once stored")
			assert.Equal(t, st.Counts.In, st.Counts.Done+st.Counts.Failed+st.Counts.Abandoned, "%+v", st.Counts)
		})
	}

	t.Run("skip: the item is skipped and the others stored", func(t *testing.T) {
		e := start(t)
		s := e.stream()

		st := pipeline.New(source.Slice(items(10)), pipeline.OnError(stage.Skip())).
			Sink(jetstream.New(e.js, "out.x", failOn3)).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(9), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Skipped)
		var got []string
		for _, m := range e.stored(s) {
			got = append(got, string(m.Data))
		}
		assert.Equal(t, []string{"0", "1", "2", "4", "5", "6", "7", "8", "9"}, got)
	})
}

func TestMsgID(t *testing.T) {
	t.Run("the stream stores an id once; both items are done", func(t *testing.T) {
		e := start(t)
		s := e.stream()
		in := []item{{ID: 1, Name: "a"}, {ID: 2, Name: "b"}, {ID: 1, Name: "a again"}, {ID: 3, Name: "c"}}
		snk := jetstream.New(e.js, "out.x", jetstream.MsgID(func(v item) string { return "id-" + strconv.Itoa(v.ID) }))

		st := pipeline.New(source.Slice(in)).Sink(snk).Run(t.Context())

		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(4), st.Counts.Done, "the duplicate was confirmed too")
		msgs := e.stored(s)
		require.Len(t, msgs, 3)
		for i, want := range []item{in[0], in[1], in[3]} {
			assert.Equal(t, want, decode(t, msgs[i].Data))
			assert.Equal(t, "id-"+strconv.Itoa(want.ID), msgs[i].Header.Get(natsjs.MsgIDHeader))
		}

		// A second run publishing the same items, as a worker that takes
		// over after a crash would, adds nothing.
		st = pipeline.New(source.Slice(in)).Sink(snk).Run(t.Context())
		require.True(t, st.OK(), st.Message)
		assert.Equal(t, int64(4), st.Counts.Done)
		assert.Len(t, e.stored(s), 3)
	})
}

// nowhere.> is captured by no stream, and has no subscriber: the server
// answers a JetStream publish there with "no responders", which the client
// retries twice (250ms apart) before it fails the publish.
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
	// The sink publishes an item, then hands its publish to the goroutine
	// that awaits confirmations through a channel of MaxPending places. So
	// besides the MaxPending publishes in the channel, one may be awaited
	// by that goroutine (taken out of the channel) and one, just published,
	// may wait for a place: MaxPending + 2 unconfirmed at most.
	const maxPending, slack = 4, 2

	t.Run("the client never has more than MaxPending+2 publishes outstanding", func(t *testing.T) {
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
		assert.LessOrEqual(t, most, maxPending+slack)
		assert.Equal(t, items(n), e.storedItems(s))
	})

	t.Run("with no confirmations, at most MaxPending+2 items are published and unsettled", func(t *testing.T) {
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
		assert.LessOrEqual(t, most, int64(maxPending+slack))
	})
}

func TestInvalid(t *testing.T) {
	for _, c := range []struct {
		name   string
		nilJS  bool
		subj   string
		opts   []jetstream.Option[item]
		reason string
	}{
		{"nil JetStream", true, "out.x", nil, "nil JetStream"},
		{"empty subject", false, "", nil, "no subject"},
		{"nil encoder", false, "out.x", []jetstream.Option[item]{jetstream.Encoder[item](nil)}, "nil encoder"},
		{"nil subject function", false, "out.x", []jetstream.Option[item]{jetstream.Subject[item](nil)}, "nil subject function"},
		{"nil message id function", false, "out.x", []jetstream.Option[item]{jetstream.MsgID[item](nil)}, "nil message id function"},
		{"MaxPending(0)", false, "out.x", []jetstream.Option[item]{jetstream.MaxPending[item](0)}, "max pending must be >= 1, got 0"},
		{"MaxPending(-1)", false, "out.x", []jetstream.Option[item]{jetstream.MaxPending[item](-1)}, "max pending must be >= 1, got -1"},
		{"AckTimeout(0)", false, "out.x", []jetstream.Option[item]{jetstream.AckTimeout[item](0)}, "ack timeout must be > 0, got 0s"},
		{"AckTimeout(-1s)", false, "out.x", []jetstream.Option[item]{jetstream.AckTimeout[item](-time.Second)}, "ack timeout must be > 0, got -1s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t)
			s := e.stream()
			js := e.js
			if c.nilJS {
				js = nil
			}
			snk := jetstream.New(js, c.subj, c.opts...)
			require.Error(t, snk.Err())

			for _, named := range []string{"", "orders"} {
				want, sk := "jetstream", snk
				if named != "" {
					want, sk = named, snk.Named(named)
				}
				var called atomic.Bool
				src := source.Func(func(_ context.Context, yield func(item) bool) error {
					called.Store(true)
					yield(item{})
					return nil
				})

				st := pipeline.New(src).Sink(sk).Run(t.Context())

				require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				assert.Contains(t, st.Message, c.reason)
				assert.Contains(t, st.Message, strconv.Quote(want))
				var be *stage.BuildError
				require.ErrorAs(t, st.Err, &be)
				assert.Equal(t, want, be.Stage)
				assert.False(t, called.Load(), "nothing starts")
				assert.Zero(t, st.Counts.In)
			}
			assert.Empty(t, e.stored(s))
		})
	}

	t.Run("valid arguments make a valid sink", func(t *testing.T) {
		e := start(t)
		snk := jetstream.New(e.js, "out.x", jetstream.MaxPending[item](1), jetstream.AckTimeout[item](time.Nanosecond),
			jetstream.Encoder(func(item) ([]byte, error) { return nil, nil }),
			jetstream.Subject(func(item) string { return "out.y" }), jetstream.MsgID(func(item) string { return "" }), nil)
		assert.NoError(t, snk.Err())
		assert.Equal(t, "jetstream", snk.Name())
		assert.Equal(t, "orders", snk.Named("orders").Name())
		assert.Equal(t, "jetstream", snk.Name(), "Named leaves the original alone")
	})
}

func TestUpstreamWorkers(t *testing.T) {
	upper := stage.Func(func(_ context.Context, v item) (item, error) {
		v.Name = strings.ToUpper(v.Name)
		return v, nil
	})
	for _, ordered := range []bool{false, true} {
		for _, workers := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%d workers, ordered %v", workers, ordered), func(t *testing.T) {
				e := start(t)
				s := e.stream()
				const n = 500
				want := items(n)
				for i := range want {
					want[i].Name = strings.ToUpper(want[i].Name)
				}
				var opts []stage.Option
				if ordered {
					opts = append(opts, stage.Ordered())
				}

				st := pipeline.New(source.Slice(items(n))).ParMap(workers, upper, opts...).
					Sink(jetstream.New(e.js, "out.x", jetstream.MaxPending[item](8))).Run(t.Context())

				require.True(t, st.OK(), st.Message)
				assert.Equal(t, int64(n), st.Counts.Done)
				got := e.storedItems(s)
				if ordered {
					assert.Equal(t, want, got)
				} else {
					assert.ElementsMatch(t, want, got)
				}
			})
		}
	}
}
