package sink_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

func TestCollect(t *testing.T) {
	t.Run("it collects the items in order", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Slice(upTo(500))).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, upTo(500), got)
		assert.Equal(t, int64(500), st.Counts.Done)
	})

	t.Run("it appends to what the slice already holds", func(t *testing.T) {
		got := []string{"kept"}
		st := pipeline.New(source.Slice([]string{"a", "b"})).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"kept", "a", "b"}, got)
	})

	t.Run("an empty stream leaves a nil slice nil", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Slice([]int{})).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Nil(t, got)
	})

	for _, workers := range []int{1, 8} {
		t.Run(fmt.Sprintf("after an ordered ParMap of %d workers it holds the input order", workers), func(t *testing.T) {
			var got []int
			id := stage.Func(func(_ context.Context, v int) (int, error) { return v, nil })
			st := pipeline.New(source.Slice(upTo(1000))).ParMap(workers, id, stage.Ordered()).
				Sink(sink.Collect(&got)).Run(t.Context())

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, upTo(1000), got)
		})
	}

	t.Run("a nil destination makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Slice([]int{1})).Sink(sink.Collect[int](nil)).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"collect"`)
		assert.Contains(t, st.Message, "nil destination")
		assert.Zero(t, st.Counts.In, "nothing runs")
	})
}
