package natsrun

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestAServerTakesJetStreamPublishesAndStopsWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := Start(t.TempDir())
	require.NoError(t, err)
	defer s.Stop()

	nc, err := nats.Connect(s.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	require.NoError(t, err)
	ack, err := js.Publish(ctx, "t.x", []byte("hello"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), ack.Sequence)
}
