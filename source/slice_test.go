package source_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

func TestSlice(t *testing.T) {
	t.Run("it emits the items in order", func(t *testing.T) {
		in := []string{"c", "a", "b", "a"}
		var got []string
		st := pipeline.New(source.Slice(in)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, in, got)
		assert.Equal(t, int64(len(in)), st.Counts.In)
		assert.Equal(t, int64(len(in)), st.Counts.Done)
	})

	t.Run("an empty slice makes an empty stream", func(t *testing.T) {
		got := []int{}
		st := pipeline.New(source.Slice([]int{})).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("a nil slice makes an empty stream", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Slice[int](nil)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("it stops at the first failure after it", func(t *testing.T) {
		in := make([]int, 1000)
		for i := range in {
			in[i] = i
		}
		st := pipeline.New(source.Slice(in)).Sink(failAt(7)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		// The slice is handed on in runs of 64: the first run was emitted,
		// and the items after the failing one are abandoned.
		assert.Equal(t, int64(64), st.Counts.In)
		assert.Equal(t, int64(7), st.Counts.Done)
		assert.Equal(t, int64(56), st.Counts.Abandoned)
	})

	t.Run("it is named slice, and Named renames it", func(t *testing.T) {
		assert.Equal(t, "slice", source.Slice([]int{1}).Name())
		assert.Equal(t, "numbers", source.Slice([]int{1}).Named("numbers").Name())
	})
}
