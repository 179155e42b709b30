package jetstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

func TestBadArgumentsAreReportedBeforeAnythingRuns(t *testing.T) {
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(3)...)
	strDecoder := jetstream.Decoder(func(m natsjs.Msg) (string, error) { return string(m.Data()), nil })
	cases := []struct {
		name string
		src  *jetstream.Source[int]
		want string
	}{
		{"nil js", jetstream.New[int](nil, "WORK", "workers"), "nil JetStream"},
		{"no stream", jetstream.New[int](q.js, "", "workers"), "no stream name"},
		{"no consumer", jetstream.New[int](q.js, "WORK", ""), "no consumer name"},
		{"batch", jetstream.New[int](q.js, "WORK", "workers", jetstream.FetchBatch(0)), "fetch batch must be >= 1, got 0"},
		{"max wait", jetstream.New[int](q.js, "WORK", "workers", jetstream.MaxWait(0)), "max wait must be >= 1ms"},
		{"keep-alive", jetstream.New[int](q.js, "WORK", "workers", jetstream.KeepAlive(-time.Second)), "keep-alive interval must be > 0"},
		{"max outage", jetstream.New[int](q.js, "WORK", "workers", jetstream.MaxOutage(0)), "max outage must be > 0, got 0s"},
		{"nil decoder", jetstream.New[int](q.js, "WORK", "workers", jetstream.Decoder[int](nil)), "nil decoder"},
		{"decoder type", jetstream.New[int](q.js, "WORK", "workers", strDecoder), "the decoder makes string, the source emits int"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status := pipeline.New(c.src.Named("jobs")).Sink(sink.Discard[int]()).Run(testCtx(t))
			require.Equal(t, pipeline.CodeInvalid, status.Code, status.String())
			assert.ErrorIs(t, status.Err, pipeline.ErrInvalid)
			assert.Contains(t, status.Message, c.want)
			assert.Contains(t, status.Message, "jobs")
		})
	}
	assert.Equal(t, uint64(3), q.left(t), "nothing was fetched")
}

func TestAConsumerThatCannotServeFailsTheRunNamingIt(t *testing.T) {
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(3)...)
	// A work queue requires explicit acks; a stream with limits does not.
	_, err := q.js.CreateStream(testCtx(t), natsjs.StreamConfig{Name: "LOG", Subjects: []string{"log.>"}})
	require.NoError(t, err)
	_, err = q.js.CreateConsumer(testCtx(t), "LOG", natsjs.ConsumerConfig{Durable: "all-at-once", AckPolicy: natsjs.AckAllPolicy})
	require.NoError(t, err)
	cases := []struct {
		stream, consumer string
		want             error
		says             string
	}{
		{"WORK", "missing", natsjs.ErrConsumerNotFound, "consumer not found"},
		{"NOPE", "workers", natsjs.ErrStreamNotFound, "stream not found"},
		{"LOG", "all-at-once", nil, "AckExplicit"},
	}
	for _, c := range cases {
		t.Run(c.consumer, func(t *testing.T) {
			status := pipeline.New(jetstream.New[int](q.js, c.stream, c.consumer)).
				Map(stage.Func(func(_ context.Context, v int) (int, error) { return v, nil })).
				Sink(sink.Discard[int]()).Run(testCtx(t))
			require.Equal(t, pipeline.CodeFailure, status.Code, status.String())
			assert.Equal(t, "jetstream", status.Stage)
			assert.Equal(t, c.stream+"/"+c.consumer, status.Target)
			assert.Contains(t, status.Message, c.says)
			if c.want != nil {
				assert.True(t, errors.Is(status.Err, c.want), "%v", status.Err)
			}
		})
	}
}
