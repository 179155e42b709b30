package source_test

import (
	"errors"
	"iter"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
)

// naturals is an endless iter.Seq of 0, 1, 2, ... that records how many
// values it made; only a yield returning false ends it.
func naturals(made *int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; ; i++ {
			*made++
			if !yield(i) {
				return
			}
		}
	}
}

// withErrAt is an iter.Seq2 of 0, 1, ... that yields err in place of the
// value at index bad.
func withErrAt(bad int, err error) iter.Seq2[int, error] {
	return func(yield func(int, error) bool) {
		for i := 0; ; i++ {
			if i == bad {
				yield(0, err)
				return
			}
			if !yield(i, nil) {
				return
			}
		}
	}
}

func TestSeq(t *testing.T) {
	t.Run("it emits the sequence in order", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Seq(slices.Values([]int{3, 1, 2}))).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{3, 1, 2}, got)
		assert.Equal(t, int64(3), st.Counts.In)
	})

	t.Run("a sorted map's keys come through as iter.Seq", func(t *testing.T) {
		m := map[string]int{"b": 2, "a": 1, "c": 3}
		var got []string
		keys := slices.Values(slices.Sorted(maps.Keys(m)))
		st := pipeline.New(source.Seq(keys)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b", "c"}, got)
	})

	t.Run("an empty sequence makes an empty stream", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Seq(slices.Values([]int(nil)))).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("an endless sequence stops when the sink fails", func(t *testing.T) {
		var made int
		st := pipeline.New(source.Seq(naturals(&made))).Sink(failAt(5)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "sink", st.Stage)
		assert.Equal(t, 6, made)
		assert.Equal(t, int64(6), st.Counts.In)
	})

	t.Run("a nil sequence makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Seq[int](nil)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil iter.Seq")
	})

	t.Run("it is named seq, and Named renames it in errors", func(t *testing.T) {
		assert.Equal(t, "seq", source.Seq(slices.Values([]int{1})).Name())

		st := pipeline.New(source.Seq[int](nil).Named("words")).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.Contains(t, st.Message, `"words"`)
	})
}

func TestSeq2(t *testing.T) {
	t.Run("it emits the values in order while the errors are nil", func(t *testing.T) {
		seq := func(yield func(string, error) bool) {
			for _, s := range []string{"x", "y", "z"} {
				if !yield(s, nil) {
					return
				}
			}
		}
		var got []string
		st := pipeline.New(source.Seq2(seq)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"x", "y", "z"}, got)
		assert.Equal(t, int64(3), st.Counts.In)
	})

	t.Run("a non-nil error fails the run with code 1 in the source stage", func(t *testing.T) {
		errRead := errors.New("read row 2")
		var got []int
		st := pipeline.New(source.Seq2(withErrAt(2, errRead))).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errRead)
		assert.Equal(t, "seq", st.Stage)
		assert.Equal(t, "#2", st.Target)
		assert.Contains(t, st.Message, "read row 2")
		// The value paired with the error is not emitted.
		assert.Equal(t, []int{0, 1}, got)
		assert.Equal(t, int64(2), st.Counts.In)
	})

	t.Run("an error on the first value fails the run before anything is emitted", func(t *testing.T) {
		st := pipeline.New(source.Seq2(withErrAt(0, errBoom))).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "#0", st.Target)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("Named renames the source in its errors", func(t *testing.T) {
		st := pipeline.New(source.Seq2(withErrAt(1, errBoom)).Named("rows")).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "rows", st.Stage)
		assert.ErrorIs(t, st.Err, errBoom)
	})

	t.Run("an endless sequence stops when the sink fails", func(t *testing.T) {
		var made int
		seq := func(yield func(int, error) bool) {
			for i := 0; ; i++ {
				made++
				if !yield(i, nil) {
					return
				}
			}
		}
		st := pipeline.New(source.Seq2(seq)).Sink(failAt(4)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "sink", st.Stage)
		assert.Equal(t, 5, made)
	})

	t.Run("a nil sequence makes an invalid pipeline", func(t *testing.T) {
		st := pipeline.New(source.Seq2[int](nil)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil iter.Seq2")
	})
}
