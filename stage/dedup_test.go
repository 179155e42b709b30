package stage_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func self[T any](v T) T { return v }

// keyPanicsOnTwo panics on item 2; the tests look for its name in the
// stack.
func keyPanicsOnTwo(v int) int {
	if v == 2 {
		panic("two")
	}
	return v
}

func TestDedup(t *testing.T) {
	for _, f := range feeds {
		t.Run(f.name, func(t *testing.T) {
			cases := []struct {
				name   string
				in     string
				window int
				want   string
			}{
				{"repeats are left out", "a b a c b d a", 10, "a b c d"},
				{"a window of one leaves out runs of one key", "a a b b b a c c", 1, "a b a c"},
				{"a key is forgotten after window other keys", "a b c a", 2, "a b c a"},
				{"a key seen again is recent again, though left out", "a b a c a", 2, "a b c"},
				{"no repeats, nothing left out", "a b c d e", 2, "a b c d e"},
				{"an empty input", "", 3, ""},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					in := strings.Fields(c.in)
					var got []string
					st := run(t, pipeline.New(sourceOf(f, in)).
						Via(stage.Dedup(self[string], c.window)).
						Sink(sink.Collect(&got)))

					require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					assert.Equal(t, c.want, strings.Join(got, " "))
					kept := len(strings.Fields(c.want))
					assert.Equal(t, pipeline.Counts{In: int64(len(in)), Done: int64(kept), Dropped: int64(len(in) - kept)}, st.Counts)
				})
			}

			t.Run("the window's bound is exact", func(t *testing.T) {
				// Keys cycle through 0..99: between two sightings of a key
				// come the 99 others. A window of 100 remembers it; a
				// window of 99 has forgotten it.
				in := make([]int, 1000)
				for i := range in {
					in[i] = i % 100
				}
				for _, c := range []struct{ window, kept int }{{100, 100}, {99, 1000}, {1000, 100}} {
					var got []int
					st := run(t, pipeline.New(sourceOf(f, in)).
						Via(stage.Dedup(self[int], c.window)).
						Sink(sink.Collect(&got)))

					require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					assert.Len(t, got, c.kept, "window %d", c.window)
					assert.Equal(t, in[:c.kept], got, "window %d", c.window)
					assert.Equal(t, pipeline.Counts{In: 1000, Done: int64(c.kept), Dropped: int64(1000 - c.kept)}, st.Counts)
				}
			})

			t.Run("a panicking key function stops the run and names the stage and the item", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, []int{0, 1, 1, 2, 3})).
					Via(stage.Dedup(keyPanicsOnTwo, 5)).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeFailure, st.Code)
				assert.Equal(t, "dedup", st.Stage)
				assert.Equal(t, "#3", st.Target)
				requirePanic(t, st.Err, "two", "keyPanicsOnTwo")
				assert.Equal(t, []int{0, 1}, got, "the items before the failing one go on")
				c := st.Counts
				assert.EqualValues(t, 2, c.Done)
				assert.EqualValues(t, 1, c.Dropped)
				assert.EqualValues(t, 1, c.Failed)
			})

			t.Run("under Skip the item with a panicking key is skipped and its key not seen", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(sourceOf(f, []int{0, 2, 1, 2, 0})).
					Via(stage.Dedup(keyPanicsOnTwo, 5, stage.OnError(stage.Skip()), stage.Label(label))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []int{0, 1}, got)
				assert.Equal(t, pipeline.Counts{In: 5, Done: 2, Skipped: 2, Dropped: 1}, st.Counts)
			})
		})
	}

	t.Run("it keys items by any comparable value", func(t *testing.T) {
		type event struct {
			ID   int
			Body string
		}
		in := []event{{1, "a"}, {2, "b"}, {1, "again"}, {3, "c"}, {2, "again"}}
		var got []event
		st := run(t, pipeline.New(source.Slice(in)).
			Via(stage.Dedup(func(e event) int { return e.ID }, 100)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []event{{1, "a"}, {2, "b"}, {3, "c"}}, got)
	})

	t.Run("each run starts with no key seen", func(t *testing.T) {
		s := stage.Dedup(self[int], 10)
		for range 2 {
			var got []int
			st := run(t, pipeline.New(source.Slice([]int{1, 2, 1})).Via(s).Sink(sink.Collect(&got)))
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, []int{1, 2}, got)
		}
	})

	t.Run("the chain methods follow it with its item type", func(t *testing.T) {
		var got [][]int
		st := run(t, pipeline.New(source.Slice([]int{1, 1, 2, 3, 2, 4})).
			Via(stage.Dedup(self[int], 10)).
			Batch(2).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, [][]int{{1, 2}, {3, 4}}, got)
	})

	t.Run("a repeat of a FlatMap child counts its parent's outcome once", func(t *testing.T) {
		var got []string
		st := run(t, pipeline.New(source.Slice([]string{"a b", "b a", "c a"})).
			FlatMap(stage.Flat(fields)).
			Via(stage.Dedup(self[string], 10)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []string{"a", "b", "c"}, got)
		// "b a" lost both its children, "c a" one of two.
		assert.Equal(t, pipeline.Counts{In: 3, Done: 2, Dropped: 1}, st.Counts)
	})

	t.Run("invalid arguments make an invalid stage named in the message", func(t *testing.T) {
		cases := []struct {
			name   string
			stage  stage.Stage
			reason string
		}{
			{"a zero window", stage.Dedup(self[int], 0), "dedup window must be >= 1 key, got 0"},
			{"a negative window", stage.Dedup(self[int], -3), "dedup window must be >= 1 key, got -3"},
			{"a nil key function", stage.Dedup[int, int](nil, 3), "nil key function"},
			{"a bad option", stage.Dedup(self[int], 3, stage.MaxWait(0)), "max wait must be > 0, got 0s"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				st := run(t, pipeline.New(source.Slice(ints(3))).Via(c.stage).Sink(sink.Discard[int]()))

				assert.Equal(t, pipeline.CodeInvalid, st.Code)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				assert.Contains(t, st.Message, `stage 1 "dedup": `+c.reason)
			})
		}
	})
}

// TestDedupForgetsInLeastRecentOrder checks the bookkeeping of the keys
// against a plain model: a list of the window keys seen most recently.
func TestDedupForgetsInLeastRecentOrder(t *testing.T) {
	// A deterministic, irregular sequence of keys from a small alphabet.
	in := make([]int, 3000)
	x := uint32(1)
	for i := range in {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		in[i] = int(x % 23)
	}
	for _, window := range []int{1, 2, 5, 11, 22, 23} {
		var want []int
		var recent []int // most recent first
		for _, k := range in {
			i := slices.Index(recent, k)
			if i < 0 {
				want = append(want, k)
			} else {
				recent = append(recent[:i], recent[i+1:]...)
			}
			recent = append([]int{k}, recent...)
			if len(recent) > window {
				recent = recent[:window]
			}
		}

		var got []int
		st := run(t, pipeline.New(source.Slice(in)).
			Via(stage.Dedup(self[int], window)).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, want, got, "window %d", window)
		assert.EqualValues(t, len(in)-len(want), st.Counts.Dropped)
	}
}
