package jetstream_test

import (
	"context"
	"strconv"
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
		{"MaxOutage(0)", false, "out.x", []jetstream.Option[item]{jetstream.MaxOutage[item](0)}, "max outage must be > 0, got 0s"},
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
			jetstream.Subject(func(item) string { return "out.y" }), jetstream.MsgID(func(item) string { return "" }), jetstream.MaxOutage[item](time.Minute), nil)
		assert.NoError(t, snk.Err())
		assert.Equal(t, "jetstream", snk.Name())
		assert.Equal(t, "orders", snk.Named("orders").Name())
		assert.Equal(t, "jetstream", snk.Name(), "Named leaves the original alone")
	})
}
