package sink_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

func TestDiscard(t *testing.T) {
	t.Run("every item counts as done", func(t *testing.T) {
		st := pipeline.New(source.Slice(upTo(250))).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(250), st.Counts.In)
		assert.Equal(t, int64(250), st.Counts.Done)
	})

	t.Run("an empty stream counts nothing", func(t *testing.T) {
		st := pipeline.New(source.Slice([]int{})).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Zero(t, st.Counts.Done)
	})

	t.Run("after a Batch, done counts the source items of each batch", func(t *testing.T) {
		st := pipeline.New(source.Slice(upTo(10))).Batch(3).Sink(sink.Discard[[]int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(10), st.Counts.In)
		assert.Equal(t, int64(10), st.Counts.Done, "4 batches standing for 10 items")
	})

	t.Run("it is named discard", func(t *testing.T) {
		assert.Equal(t, "discard", sink.Discard[int]().Name())
	})
}
