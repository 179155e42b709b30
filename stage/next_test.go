package stage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestChainMethods(t *testing.T) {
	t.Run("Filter takes func(T) bool", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(7))).
			Filter(func(v int) bool { return v%3 == 0 }).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 3, 6}, got)
		assert.EqualValues(t, 4, st.Counts.Dropped)
	})

	t.Run("Filter takes func(context.Context, T) (bool, error)", func(t *testing.T) {
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(7))).
			Filter(even).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 2, 4, 6}, got)
	})

	t.Run("Filter takes options", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(7))).
			Filter(func(_ context.Context, v int) (bool, error) {
				if v == 4 {
					return false, errBoom
				}
				return true, nil
			}, stage.Name("picky"), stage.Label(label)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "picky", st.Stage)
		assert.Equal(t, "item 4", st.Target)
	})

	t.Run("Tap takes func(T)", func(t *testing.T) {
		var seen, got []string
		st := run(t, pipeline.New(source.Slice([]string{"x", "y"})).
			Tap(func(s string) { seen = append(seen, s) }).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"x", "y"}, seen)
		assert.Equal(t, []string{"x", "y"}, got)
	})

	t.Run("Tap takes func(context.Context, T) error", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice([]string{"x", "y"})).
			Tap(func(_ context.Context, s string) error {
				if s == "y" {
					return errBoom
				}
				return nil
			}).
			Sink(sink.Discard[string]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "tap", st.Stage)
		assert.Equal(t, "#1", st.Target)
	})

	t.Run("Batch groups the previous stage's type", func(t *testing.T) {
		var got [][]string
		st := run(t, pipeline.New(source.Slice([]string{"a", "b", "c"})).
			Batch(2).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]string{{"a", "b"}, {"c"}}, got)
	})

	t.Run("Log passes items on and logs them", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(3)), pipeline.WithLogger(zap.New(core))).
			Log("seen").
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, ints(3), got)
		assert.Equal(t, 3, logs.FilterMessage("seen").Len())
	})

	t.Run("the methods chain after each other and after a Map", func(t *testing.T) {
		var seen []int
		var got [][]int
		st := run(t, pipeline.New(source.Slice(ints(10))).
			Via(stage.Map(func(_ context.Context, v int) (int, error) { return v * v, nil })).
			Filter(func(v int) bool { return v%2 == 1 }).
			Tap(func(v int) { seen = append(seen, v) }).
			Log("odd square").
			Batch(2).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{1, 9, 25, 49, 81}, seen)
		assert.Equal(t, [][]int{{1, 9}, {25, 49}, {81}}, got)
	})

	t.Run("Filter, Tap and Log work after Batch", func(t *testing.T) {
		var seen, got [][]int
		core, logs := observer.New(zap.InfoLevel)
		st := run(t, pipeline.New(source.Slice(ints(7)), pipeline.WithLogger(zap.New(core))).
			Batch(2).
			Filter(func(b []int) bool { return len(b) == 2 }).
			Tap(func(b []int) { seen = append(seen, b) }).
			Tap(func(_ context.Context, b []int) error { return nil }).
			Filter(func(_ context.Context, b []int) (bool, error) { return b[0] != 2, nil }).
			Log("batch").
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]int{{0, 1}, {2, 3}, {4, 5}}, seen)
		assert.Equal(t, [][]int{{0, 1}, {4, 5}}, got)
		assert.EqualValues(t, 3, st.Counts.Dropped, "the short batch {6} and the batch {2, 3}")
		assert.EqualValues(t, 4, st.Counts.Done)
		assert.Equal(t, 2, logs.FilterMessage("batch").Len())
	})

	t.Run("a typed Batch of batches works where the untyped one cannot", func(t *testing.T) {
		var got [][][]int
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Batch(2).
			Via(stage.Batch[[]int](2)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][][]int{{{0, 1}, {2, 3}}, {{4}}}, got)
	})

	wrong := []struct {
		name  string
		build func(*pipeline.Pipeline) *pipeline.Pipeline // adds the stage and a sink of the right type
		want  []string                                    // the message names the function's type and the types it must have
	}{
		{
			"Filter with a function of another item type",
			func(p *pipeline.Pipeline) *pipeline.Pipeline {
				return p.Filter(func(string) bool { return true }).Sink(sink.Discard[int]())
			},
			[]string{`"filter"`, "func(string) bool", "func(int) bool", "func(context.Context, int) (bool, error)"},
		},
		{
			"Filter with a function that is not a predicate",
			func(p *pipeline.Pipeline) *pipeline.Pipeline {
				return p.Filter(func(int) int { return 0 }).Sink(sink.Discard[int]())
			},
			[]string{"func(int) int", "func(int) bool"},
		},
		{
			"Filter with something that is not a function",
			func(p *pipeline.Pipeline) *pipeline.Pipeline { return p.Filter(42).Sink(sink.Discard[int]()) },
			[]string{"is int;", "func(int) bool"},
		},
		{
			"Tap with a function of another item type",
			func(p *pipeline.Pipeline) *pipeline.Pipeline { return p.Tap(func(string) {}).Sink(sink.Discard[int]()) },
			[]string{`"tap"`, "func(string)", "func(int)", "func(context.Context, int) error"},
		},
		{
			"Tap with a function returning the wrong thing",
			func(p *pipeline.Pipeline) *pipeline.Pipeline {
				return p.Tap(func(context.Context, int) bool { return true }).Sink(sink.Discard[int]())
			},
			[]string{"func(context.Context, int) bool", "func(context.Context, int) error"},
		},
		{
			"Filter after Batch with a function of the item type",
			func(p *pipeline.Pipeline) *pipeline.Pipeline {
				return p.Batch(2).Filter(func(int) bool { return true }).Sink(sink.Discard[[]int]())
			},
			[]string{"func(int) bool", "func([]int) bool"},
		},
		{
			"Tap after Batch with a function of the item type",
			func(p *pipeline.Pipeline) *pipeline.Pipeline {
				return p.Batch(2).Tap(func(int) {}).Sink(sink.Discard[[]int]())
			},
			[]string{"func(int)", "func([]int)"},
		},
	}
	for _, c := range wrong {
		t.Run(c.name+" is invalid and names both types", func(t *testing.T) {
			var ran bool
			src := source.Func(func(_ context.Context, yield func(int) bool) error {
				ran = true
				return nil
			})
			st := run(t, c.build(pipeline.New(src)))

			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
			for _, w := range c.want {
				assert.Contains(t, st.Message, w)
			}
			assert.False(t, ran)
		})
	}

	// A nil function of an accepted type is not a type mismatch: the
	// message must say it is nil, as stage.Filter(nil) and stage.Tap(nil)
	// do, instead of claiming that func(int) bool must be func(int) bool.
	nils := []struct {
		name  string
		build func(*pipeline.Pipeline) *pipeline.Pipeline
	}{
		{"Filter with a nil func(T) bool", func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.Filter((func(int) bool)(nil)).Sink(sink.Discard[int]())
		}},
		{"Filter with a nil func(context.Context, T) (bool, error)", func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.Filter((func(context.Context, int) (bool, error))(nil)).Sink(sink.Discard[int]())
		}},
		{"Tap with a nil func(T)", func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.Tap((func(int))(nil)).Sink(sink.Discard[int]())
		}},
		{"Tap with a nil func(context.Context, T) error", func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.Tap((func(context.Context, int) error)(nil)).Sink(sink.Discard[int]())
		}},
		{"Filter after Batch with a nil func(T) bool", func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.Batch(2).Filter((func([]int) bool)(nil)).Sink(sink.Discard[[]int]())
		}},
		{"Tap after Batch with a nil func(T)", func(p *pipeline.Pipeline) *pipeline.Pipeline {
			return p.Batch(2).Tap((func([]int))(nil)).Sink(sink.Discard[[]int]())
		}},
	}
	for _, c := range nils {
		t.Run(c.name+" is invalid and says the function is nil", func(t *testing.T) {
			st := run(t, c.build(pipeline.New(source.Slice(ints(3)))))

			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
			assert.Contains(t, st.Message, "nil", "the message should say the function is nil")
		})
	}

	t.Run("Batch right after Batch is invalid with a message saying what to do", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Batch(2).
			Batch(3).
			Sink(sink.Discard[[][]int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"batch"`)
		assert.Contains(t, st.Message, "Batch right after an untyped Batch")
		assert.Contains(t, st.Message, "Via(stage.Batch[[]T](n))", "the message shows the way out")
		assert.Equal(t, 1, strings.Count(st.Message, "\n")+1, "one problem, reported once: %s", st.Message)
	})

	t.Run("Batch after a Filter after Batch is invalid too", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Batch(2).
			Filter(func([]int) bool { return true }).
			Batch(3).
			Sink(sink.Discard[[][]int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "Via(stage.Batch[[]T](n))")
	})

	t.Run("a method after an invalid stage reports the first problem", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(5))).
			Via(stage.Batch[int](0)).
			Filter(func([]int) bool { return true }).
			Sink(sink.Discard[[]int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "batch size must be >= 1")
	})
}
