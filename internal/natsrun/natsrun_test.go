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

	url := s.URL()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
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

	// After an outage, the client reconnects to the same address and finds
	// its stream.
	require.NoError(t, s.Outage(100*time.Millisecond))
	require.Equal(t, url, s.URL())
	require.Eventually(t, nc.IsConnected, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, uint64(1), nc.Stats().Reconnects)
	ack, err = js.Publish(ctx, "t.x", []byte("again"))
	require.NoError(t, err)
	require.Equal(t, uint64(2), ack.Sequence, "the stream survived")
}
