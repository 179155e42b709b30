package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

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

func TestAFailureUpstreamStopsTheSink(t *testing.T) {
	for _, failAt := range []int{0, 50} {
		t.Run(fmt.Sprintf("failing item %d", failAt), func(t *testing.T) {
			e := start(t)
			s := e.stream()
			done := make(chan pipeline.ExitStatus, 1)
			go func() {
				done <- pipeline.New(source.Slice(items(100))).
					Map(stage.Func(func(_ context.Context, v item) (item, error) {
						if v.ID == failAt {
							return v, errors.New("boom")
						}
						return v, nil
					})).
					Sink(jetstream.New[item](e.js, "out.x")).Run(t.Context())
			}()
			var st pipeline.ExitStatus
			select {
			case st = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the run did not return: the sink waits for a Close that a failed run never sends")
			}
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Equal(t, int64(1), st.Counts.Failed)
			assert.Equal(t, st.Counts.In, st.Counts.Done+st.Counts.Failed+st.Counts.Abandoned)
			assert.LessOrEqual(t, st.Counts.Done, int64(len(e.storedItems(s))), "done only once stored")
		})
	}
}
