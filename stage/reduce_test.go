package stage_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sum(_ context.Context, acc, v int) (int, error) { return acc + v, nil }

// fields splits a line into its words, for FlatMap.
func fields(_ context.Context, s string) ([]string, error) { return strings.Fields(s), nil }

// reducePanicsOnFour panics on item 4; the tests look for its name in the
// stack.
func reducePanicsOnFour(_ context.Context, acc, v int) (int, error) {
	if v == 4 {
		panic("four")
	}
	return acc + v, nil
}

// sumFailingOn sums items, failing on bad.
func sumFailingOn(bad int) func(context.Context, int, int) (int, error) {
	return func(_ context.Context, acc, v int) (int, error) {
		if v == bad {
			return acc, errBoom
		}
		return acc + v, nil
	}
}

func TestReduce(t *testing.T) {
	for _, f := range feeds {
		t.Run(f.name, func(t *testing.T) {
			t.Run("it folds every item in order and emits one value that stands for them all", func(t *testing.T) {
				var got []string
				st := run(t, pipeline.New(sourceOf(f, []string{"a", "b", "c", "d"})).
					Via(stage.Reduce(">", func(_ context.Context, acc, v string) (string, error) { return acc + v, nil })).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []string{">abcd"}, got)
				assert.Equal(t, pipeline.Counts{In: 4, Done: 4}, st.Counts)
			})

			t.Run("many items, across the source's runs", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(1000))).
					Via(stage.Reduce(0, sum)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{999 * 1000 / 2}, got)
				assert.Equal(t, pipeline.Counts{In: 1000, Done: 1000}, st.Counts)
			})

			t.Run("an empty input gives init", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, []int{})).
					Via(stage.Reduce(42, sum)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{42}, got)
				assert.Equal(t, pipeline.Counts{}, st.Counts)
			})

			t.Run("items left out before it are not folded in", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(10))).
					Via(stage.Filter(even)).
					Via(stage.Reduce(0, sum)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{0 + 2 + 4 + 6 + 8}, got)
				assert.Equal(t, pipeline.Counts{In: 10, Done: 5, Dropped: 5}, st.Counts)
			})

			t.Run("it folds FlatMap children and their parents end done", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, []string{"a b", "c", "", "d e f"})).
					FlatMap(stage.Flat(fields)).
					Via(stage.Reduce(0, func(_ context.Context, n int, _ string) (int, error) { return n + 1, nil })).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{6}, got)
				assert.Equal(t, pipeline.Counts{In: 4, Done: 3, Dropped: 1}, st.Counts)
			})

			t.Run("an error stops the run, names the stage and the item, and emits nothing", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(10))).
					Via(stage.Reduce(0, sumFailingOn(3), stage.Name("total"))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeFailure, st.Code)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "total", st.Stage)
				assert.Equal(t, "#3", st.Target)
				assert.Contains(t, st.Message, `stage 1 "total", item #3: boom`)
				assert.Empty(t, got)
				c := st.Counts
				assert.EqualValues(t, 1, c.Failed)
				assert.Zero(t, c.Done, "the items folded before the failure never reached the sink")
				assert.Equal(t, c.In, c.Failed+c.Abandoned, "%+v", c)
			})

			t.Run("under Skip a failing item is left out and the fold goes on", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, ints(10))).
					Via(stage.Reduce(0, sumFailingOn(3), stage.OnError(stage.Skip()))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{45 - 3}, got)
				assert.Equal(t, pipeline.Counts{In: 10, Done: 9, Skipped: 1}, st.Counts)
			})

			t.Run("a retry sees the accumulator as it was before the failed call", func(t *testing.T) {
				var accs []int
				failed := false
				var got []int
				st := run(t, pipeline.New(sourceOf(f, []int{1, 2, 3, 4})).
					Via(stage.Reduce(0, func(_ context.Context, acc, v int) (int, error) {
						if v == 3 {
							accs = append(accs, acc)
							if !failed {
								failed = true
								return -100, errBoom // a result with the error is ignored
							}
						}
						return acc + v, nil
					}, stage.OnError(stage.Retry(2, 0, 0)))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{3, 3}, accs)
				assert.Equal(t, []int{10}, got)
				assert.Equal(t, pipeline.Counts{In: 4, Done: 4, Retried: 1}, st.Counts)
			})

			t.Run("a folded FlatMap child that is skipped makes its parent skipped", func(t *testing.T) {
				var got []string
				st := run(t, pipeline.New(sourceOf(f, []string{"a b", "c bad d", "e"})).
					FlatMap(stage.Flat(fields)).
					Via(stage.Reduce("", func(_ context.Context, acc, w string) (string, error) {
						if w == "bad" {
							return "", errBoom
						}
						return acc + w, nil
					}, stage.OnError(stage.Skip()))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []string{"abcde"}, got)
				assert.Equal(t, pipeline.Counts{In: 3, Done: 2, Skipped: 1}, st.Counts)
			})
		})
	}

	t.Run("it counts every parent of many FlatMap children once", func(t *testing.T) {
		// 20,000 children share 10,000 parents. Merging their tags one
		// after another would copy the growing list of their groups at each
		// step: quadratic, seconds at this size, and hours at a million.
		lines := make([]string, 10_000)
		for i := range lines {
			lines[i] = "x y"
		}
		var got []int
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st := run(t, pipeline.New(source.Slice(lines)).
			FlatMap(stage.Flat(fields)).
			Via(stage.Reduce(0, func(_ context.Context, n int, _ string) (int, error) { return n + 1, nil })).
			Sink(sink.Collect(&got)))
		runtime.ReadMemStats(&after)

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{20_000}, got)
		assert.Equal(t, pipeline.Counts{In: 10_000, Done: 10_000}, st.Counts)
		// Memory, not time, tells the two apart without depending on the
		// machine's speed: about 3 GB copied one merge after another, a few
		// MB here.
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("allocated %d MB", allocated>>20)
		assert.Less(t, allocated, uint64(256<<20), "merging the children's tags must not be quadratic")
	})

	t.Run("each run starts from init", func(t *testing.T) {
		s := stage.Reduce(100, sum)
		for range 2 {
			var got []int
			st := run(t, pipeline.New(source.Slice(ints(5))).Via(s).Sink(sink.Collect(&got)))
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, []int{110}, got)
		}
	})

	t.Run("the chain methods follow it with the accumulator's type", func(t *testing.T) {
		var got []string
		st := run(t, pipeline.New(source.Slice([]string{"b", "a", "b"})).
			Via(stage.Reduce(map[string]int{}, func(_ context.Context, acc map[string]int, w string) (map[string]int, error) {
				next := map[string]int{w: 1}
				for k, n := range acc {
					next[k] += n
				}
				return next, nil
			})).
			Tap(func(m map[string]int) { assert.Equal(t, map[string]int{"a": 1, "b": 2}, m) }).
			Via(stage.Map(func(_ context.Context, m map[string]int) (string, error) {
				return strings.Repeat("a", m["a"]) + strings.Repeat("b", m["b"]), nil
			})).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"abb"}, got)
		assert.Equal(t, pipeline.Counts{In: 3, Done: 3}, st.Counts)
	})

	t.Run("a Label names the failing item", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.Reduce(0, sumFailingOn(2), stage.Label(label))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "reduce", st.Stage)
		assert.Equal(t, "item 2", st.Target)
	})

	t.Run("a panic is a PanicError with the function in its stack", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(6))).
			Via(stage.Reduce(0, reducePanicsOnFour)).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeFailure, st.Code)
		assert.Equal(t, "reduce", st.Stage)
		assert.Equal(t, "#4", st.Target)
		requirePanic(t, st.Err, "four", "reducePanicsOnFour")
	})

	t.Run("a nil function is an invalid stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Reduce[int, int](0, nil)).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"reduce"`)
		assert.Contains(t, st.Message, "nil reduce function")
	})

	t.Run("a Label of another type is an invalid stage", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Reduce(0, sum, stage.Label(func(string) string { return "" }))).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, `"reduce"`)
		assert.Contains(t, st.Message, "label function is func(string) string, but the stage takes int")
	})
}
