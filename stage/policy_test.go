package stage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mapper makes the stage under test from a handler: a Map, or a ParMap at
// some worker count in one of the two orderings. Every policy test runs
// through all of them, since each has its own path from a failed item back
// into the stream.
type mapper struct {
	name    string
	ordered bool // the stage keeps input order
	make    func(f func(context.Context, int) (int, error), opts ...stage.Option) stage.Stage
}

func mappers() []mapper {
	ms := []mapper{{
		name:    "map",
		ordered: true,
		make: func(f func(context.Context, int) (int, error), opts ...stage.Option) stage.Stage {
			return stage.Map(f, opts...)
		},
	}}
	for _, workers := range []int{1, 4} {
		for _, ord := range orderings {
			ms = append(ms, mapper{
				name:    fmt.Sprintf("parmap with %d workers %s", workers, ord.name),
				ordered: ord.ordered,
				make: func(f func(context.Context, int) (int, error), opts ...stage.Option) stage.Stage {
					return stage.ParMap(workers, stage.Func(f), ord.opts(opts...)...)
				},
			})
		}
	}
	return ms
}

// checkItems compares what came out with want: exactly for a stage that
// keeps order, as a multiset otherwise.
func checkItems(t *testing.T, m mapper, want, got []int) {
	t.Helper()
	if m.ordered {
		assert.Equal(t, want, got)
	} else {
		assert.Equal(t, want, slices.Sorted(slices.Values(got)))
	}
}

// tiny is a backoff that keeps retry tests fast.
const tiny = 5 * time.Microsecond

// attempts counts calls per item; items are 0..n-1.
type attempts []atomic.Int32

func (a attempts) add(v int) int { return int(a[v].Add(1)) }

func failOn(bad func(int) bool) func(context.Context, int) (int, error) {
	return func(_ context.Context, v int) (int, error) {
		if bad(v) {
			return 0, errBoom
		}
		return v, nil
	}
}

func multipleOf(k int) func(int) bool { return func(v int) bool { return v%k == 0 } }

func without(items []int, drop func(int) bool) []int {
	return slices.DeleteFunc(slices.Clone(items), drop)
}

func TestPolicies(t *testing.T) {
	const n = 40
	for _, m := range mappers() {
		t.Run(m.name, func(t *testing.T) {
			t.Run("a stage's OnError beats the pipeline's", func(t *testing.T) {
				st := run(t, pipeline.New(source.Slice(ints(n)), pipeline.OnError(stage.Skip())).
					Via(m.make(failOn(func(v int) bool { return v == 9 }), stage.Name("work"), stage.OnError(stage.FailFast()))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.Equal(t, "work", st.Stage)
				assert.Equal(t, "#9", st.Target)
				assert.Zero(t, st.Counts.Skipped)
			})

			t.Run("a stage's Skip beats the pipeline's FailFast", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n)), pipeline.OnError(stage.FailFast())).
					Via(m.make(failOn(multipleOf(5)), stage.OnError(stage.Skip()))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, n/5, st.Counts.Skipped)
				checkItems(t, m, without(ints(n), multipleOf(5)), got)
			})

			t.Run("the pipeline's policy applies to a stage without its own", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n)), pipeline.OnError(stage.Skip())).
					Via(m.make(failOn(multipleOf(5)))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, n/5, st.Counts.Skipped)
				checkItems(t, m, without(ints(n), multipleOf(5)), got)
			})

			t.Run("Skip counts failures and finishes with the rest", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(failOn(multipleOf(3)), stage.OnError(stage.Skip()))).
					Sink(sink.Collect(&got)))

				skipped := len(ints(n)) - len(without(ints(n), multipleOf(3)))
				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, n, st.Counts.In)
				assert.EqualValues(t, skipped, st.Counts.Skipped)
				assert.EqualValues(t, n-skipped, st.Counts.Done)
				assert.Zero(t, st.Counts.Failed)
				checkItems(t, m, without(ints(n), multipleOf(3)), got)
			})

			t.Run("Skip also drops panicking items", func(t *testing.T) {
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(10))).
					Via(m.make(mapPanicsOnThree, stage.OnError(stage.Skip()))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, 1, st.Counts.Skipped)
				checkItems(t, m, []int{0, 1, 2, 4, 5, 6, 7, 8, 9}, got)
			})

			t.Run("Retry succeeds after transient errors", func(t *testing.T) {
				calls := make(attempts, n)
				// Every 4th item fails its first two calls.
				f := func(_ context.Context, v int) (int, error) {
					if calls.add(v) <= 2 && v%4 == 0 {
						return 0, fmt.Errorf("transient %d: %w", v, errBoom)
					}
					return v, nil
				}
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(f, stage.OnError(stage.Retry(3, tiny, 4*tiny)))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, 2*n/4, st.Counts.Retried, "two extra calls for each flaky item")
				assert.EqualValues(t, n, st.Counts.Done)
				assert.Zero(t, st.Counts.Failed)
				checkItems(t, m, ints(n), got)
				for v := range n {
					want := 1
					if v%4 == 0 {
						want = 3
					}
					assert.EqualValues(t, want, calls[v].Load(), "calls for item %d", v)
				}
			})

			t.Run("Retry gives up after its attempts and fails the run", func(t *testing.T) {
				calls := make(attempts, n)
				f := func(_ context.Context, v int) (int, error) {
					calls.add(v)
					if v == 11 {
						return 0, errBoom
					}
					return v, nil
				}
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(f, stage.Name("work"), stage.OnError(stage.Retry(3, tiny, tiny)))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "work", st.Stage)
				assert.Equal(t, "#11", st.Target)
				assert.EqualValues(t, 3, calls[11].Load(), "attempts counts every call, the first included")
				assert.EqualValues(t, 2, st.Counts.Retried)
				assert.EqualValues(t, 1, st.Counts.Failed)
			})

			t.Run("Retry does not retry a Permanent error", func(t *testing.T) {
				calls := make(attempts, n)
				f := func(_ context.Context, v int) (int, error) {
					calls.add(v)
					if v == 5 {
						return 0, stage.Permanent(errBoom)
					}
					return v, nil
				}
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(f, stage.OnError(stage.Retry(5, tiny, tiny)))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom, "Permanent keeps the cause visible")
				assert.Equal(t, "#5", st.Target)
				assert.EqualValues(t, 1, calls[5].Load())
				assert.Zero(t, st.Counts.Retried)
			})

			t.Run("Retry then Skip falls back to skipping", func(t *testing.T) {
				calls := make(attempts, n)
				f := func(_ context.Context, v int) (int, error) {
					calls.add(v)
					if v == 7 || v == 8 {
						return 0, errBoom
					}
					if v == 9 {
						return 0, stage.Permanent(errBoom)
					}
					return v, nil
				}
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(f, stage.OnError(stage.Retry(2, tiny, tiny).Then(stage.Skip())))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, 3, st.Counts.Skipped)
				assert.EqualValues(t, 2, st.Counts.Retried, "one extra call each for 7 and 8, none for the permanent 9")
				assert.EqualValues(t, 2, calls[7].Load())
				assert.EqualValues(t, 1, calls[9].Load())
				checkItems(t, m, without(ints(n), func(v int) bool { return v >= 7 && v <= 9 }), got)
			})

			t.Run("a retry cut short by a cancellation is not counted as made", func(t *testing.T) {
				// The backoff is an hour of fake time: the run is cancelled
				// while the retry sleeps, so the second call never happens.
				synctest.Test(t, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					var calls atomic.Int32
					f := func(context.Context, int) (int, error) { calls.Add(1); return 0, errBoom }
					done := make(chan pipeline.ExitStatus, 1)
					go func() {
						done <- pipeline.New(source.Slice([]int{1})).
							Via(m.make(f, stage.OnError(stage.Retry(3, time.Hour, time.Hour)))).
							Sink(sink.Discard[int]()).
							Run(ctx)
					}()

					synctest.Wait() // the first call has failed and the retry sleeps
					cancel()
					st := <-done

					assert.Equal(t, pipeline.CodeFailure, st.Code)
					assert.ErrorIs(t, st.Err, context.Canceled)
					assert.EqualValues(t, 1, calls.Load())
					assert.Zero(t, st.Counts.Retried, "Retried counts extra attempts made; none was")
				})
			})

			t.Run("DeadLetter receives the item, its label, the stage and the error", func(t *testing.T) {
				// Calls to the dead-letter function are serialized, so a
				// plain slice is enough; the race detector would say if not.
				var dead []stage.DeadLetterItem
				dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
					dead = append(dead, d)
					return nil
				})
				bad := func(v int) bool { return v%10 == 3 }
				var got []int
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(failOn(bad), stage.Name("work"), stage.OnError(dl), stage.Label(label))).
					Sink(sink.Collect(&got)))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.EqualValues(t, 4, st.Counts.DeadLettered)
				assert.EqualValues(t, n-4, st.Counts.Done)
				checkItems(t, m, without(ints(n), bad), got)
				require.Len(t, dead, 4)
				var items []int
				for _, d := range dead {
					v, ok := d.Item.(int)
					require.True(t, ok, "the item is passed as the stage's input type, got %T", d.Item)
					items = append(items, v)
					assert.Equal(t, "work", d.Stage)
					assert.Equal(t, label(v), d.Label)
					assert.ErrorIs(t, d.Err, errBoom)
					var se *stage.Error
					if assert.ErrorAs(t, d.Err, &se) {
						assert.Equal(t, "work", se.Stage)
						assert.Equal(t, label(v), se.Label)
					}
				}
				assert.ElementsMatch(t, []int{3, 13, 23, 33}, items)
			})

			t.Run("DeadLetter without a Label gets the #N label", func(t *testing.T) {
				var labels []string
				dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
					labels = append(labels, d.Label)
					return nil
				})
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(failOn(func(v int) bool { return v == 17 }), stage.OnError(dl))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				assert.Equal(t, []string{"#17"}, labels)
			})

			t.Run("an error from the dead-letter function fails the run", func(t *testing.T) {
				errFull := errors.New("dead-letter queue full")
				dl := stage.DeadLetter(func(context.Context, stage.DeadLetterItem) error { return errFull })
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(failOn(func(v int) bool { return v == 6 }), stage.Name("work"), stage.OnError(dl))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errFull)
				assert.Equal(t, "work", st.Stage)
				assert.Equal(t, "#6", st.Target)
				assert.Zero(t, st.Counts.DeadLettered)
			})

			t.Run("Retry then DeadLetter hands over the last error", func(t *testing.T) {
				calls := make(attempts, n)
				var dead []stage.DeadLetterItem
				dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
					dead = append(dead, d)
					return nil
				})
				f := func(_ context.Context, v int) (int, error) {
					c := calls.add(v)
					if v == 2 {
						return 0, fmt.Errorf("attempt %d: %w", c, errBoom)
					}
					return v, nil
				}
				st := run(t, pipeline.New(source.Slice(ints(n))).
					Via(m.make(f, stage.OnError(stage.Retry(3, tiny, tiny).Then(dl)))).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				require.Len(t, dead, 1)
				assert.Equal(t, 2, dead[0].Item)
				assert.ErrorContains(t, dead[0].Err, "attempt 3")
				assert.EqualValues(t, 2, st.Counts.Retried)
				assert.EqualValues(t, 1, st.Counts.DeadLettered)
			})
		})
	}
}

func TestPoliciesInvalid(t *testing.T) {
	cases := []struct {
		name   string
		policy stage.Policy
		reason string
	}{
		{"Retry with 0 attempts", stage.Retry(0, tiny, tiny), "retry attempts must be >= 1, got 0"},
		{"Retry with a base above its max", stage.Retry(3, time.Second, time.Millisecond), "base"},
		{"Retry with a negative base", stage.Retry(3, -time.Second, time.Millisecond), "base"},
		{"Retry falling back to Retry", stage.Retry(3, tiny, tiny).Then(stage.Retry(2, tiny, tiny)), "another retry"},
		{"Retry falling back to an invalid policy", stage.Retry(3, tiny, tiny).Then(stage.DeadLetter(nil)), "nil function"},
		{"DeadLetter with a nil function", stage.DeadLetter(nil), "nil function"},
	}
	for _, m := range mappers() {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s: %s on a stage is invalid", m.name, c.name), func(t *testing.T) {
				calls := make(attempts, 3)
				f := func(_ context.Context, v int) (int, error) { calls.add(v); return v, nil }
				st := run(t, pipeline.New(source.Slice(ints(3))).
					Via(m.make(f, stage.Name("work"), stage.OnError(c.policy))).
					Sink(sink.Discard[int]()))

				assert.Equal(t, pipeline.CodeInvalid, st.Code)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				assert.Contains(t, st.Message, `"work"`)
				assert.Contains(t, st.Message, c.reason)
				assert.Zero(t, calls[0].Load(), "nothing runs in an invalid pipeline")
			})
		}
	}
	for _, c := range cases {
		t.Run(c.name+" for the whole pipeline is invalid", func(t *testing.T) {
			st := run(t, pipeline.New(source.Slice(ints(3)), pipeline.OnError(c.policy)).
				Via(stage.Map(func(_ context.Context, v int) (int, error) { return v, nil })).
				Sink(sink.Discard[int]()))

			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
			assert.Contains(t, st.Message, c.reason)
		})
	}
}
