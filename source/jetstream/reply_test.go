package jetstream

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReplyAgreesWithMetadata(t *testing.T) {
	for _, reply := range []string{
		// The format without domain and account hash.
		"$JS.ACK.WORK.workers.1.42.40.1733250000000000000.0",
		"$JS.ACK.WORK.workers.17.9000000000.123.1733250000000000000.918273",
		// With them, with and without the trailing token, and more.
		"$JS.ACK._.ACCHASH.WORK.workers.3.42.40.1733250000000000000.7.tok",
		"$JS.ACK.hub.ACCHASH.WORK.workers.3.42.40.1733250000000000000.7",
		"$JS.ACK.hub.ACCHASH.WORK.workers.2.42.40.1733250000000000000.0.tok.more",
	} {
		want, err := (&nats.Msg{Reply: reply, Sub: &nats.Subscription{}}).Metadata()
		require.NoError(t, err, reply)
		delivered, pending, ok := parseReply(reply)
		require.True(t, ok, reply)
		assert.Equal(t, want.NumDelivered, delivered, reply)
		assert.Equal(t, want.NumPending, pending, reply)
	}
}

func TestParseReplyRefusesWhatItCannotRead(t *testing.T) {
	for _, reply := range []string{
		"", "_INBOX.abc", "$JS.ACK.WORK.workers.1.42.40.17",
		"$JS.ACK.WORK.workers.x.42.40.1733250000000000000.0",
		"$JS.ACK.WORK.workers.1.42.40.1733250000000000000.-1",
		"$JS.ACK.hub.ACCHASH.WORK.workers.3.42.40.1733250000000000000",
	} {
		_, _, ok := parseReply(reply)
		assert.False(t, ok, reply)
	}
}

func TestParseReplyCostsNoAllocation(t *testing.T) {
	reply := "$JS.ACK._.ACCHASH.WORK.workers.3.42.40.1733250000000000000.7.tok"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _, _ = parseReply(reply) }))
}
