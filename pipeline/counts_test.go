package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// balanced checks the accounting identity every ExitStatus must satisfy.
func balanced(t *testing.T, c pipeline.Counts) {
	t.Helper()
	assert.Equal(t, c.In, c.Done+c.Dropped+c.Skipped+c.DeadLettered+c.Requeued+c.Failed+c.Abandoned, "%+v", c)
	assert.GreaterOrEqual(t, c.Abandoned, int64(0), "%+v", c)
}

func words(_ context.Context, s string) ([]string, error) { return strings.Fields(s), nil }

func TestCountsAreInSourceItems(t *testing.T) {
	for _, workers := range []int{1, 4} {
		for _, ordered := range []bool{false, true} {
			var opts []stage.Option
			if ordered {
				opts = append(opts, stage.Ordered())
			}
			name := fmt.Sprintf("%d workers, ordered %v", workers, ordered)

			t.Run(name+": a skipped batch counts for all its members", func(t *testing.T) {
				h := stage.Func(func(_ context.Context, b []int) (int, error) {
					if b[0] == 3 {
						return 0, errors.New("bad batch")
					}
					return len(b), nil
				})
				st := pipeline.New(source.Slice([]int{0, 1, 2, 3, 4, 5, 6}), pipeline.OnError(stage.Skip())).
					Batch(3).ParMap(workers, h, opts...).Sink(sink.Discard[int]()).Run(context.Background())
				require.Equal(t, 0, st.Code, st.Message)
				assert.Equal(t, pipeline.Counts{In: 7, Done: 4, Skipped: 3}, st.Counts)
			})

			t.Run(name+": a FlatMap parent takes its children's worst outcome", func(t *testing.T) {
				failOn := func(bad string) stage.Proc[string, string] {
					return stage.Func(func(_ context.Context, w string) (string, error) {
						if w == bad {
							return "", errors.New("no " + bad)
						}
						return w, nil
					})
				}
				var dead []string
				dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
					dead = append(dead, d.Item.(string))
					return nil
				})
				lines := []string{
					"a b c",          // done: every child done
					"a drop",         // done: a dropped child does not spoil the rest
					"drop drop",      // dropped: every child dropped
					"",               // dropped: no children
					"a skip",         // skipped
					"dead skip a",    // dead-lettered: worse than skipped
					"single",         // done: one child keeps its parent's tag
					"skip skip dead", // dead-lettered
				}
				st := pipeline.New(source.Slice(lines)).
					FlatMap(stage.Flat(words)).
					Filter(func(w string) bool { return w != "drop" }).
					ParMap(workers, failOn("skip"), append(opts, stage.OnError(stage.Skip()))...).
					ParMap(workers, failOn("dead"), append(opts, stage.OnError(dl))...).
					Sink(sink.Discard[string]()).Run(context.Background())
				require.Equal(t, 0, st.Code, st.Message)
				assert.Equal(t, []string{"dead", "dead"}, dead)
				assert.Equal(t, pipeline.Counts{In: 8, Done: 3, Dropped: 2, Skipped: 1, DeadLettered: 2}, st.Counts)
			})

			t.Run(name+": dead letters count the source items behind them", func(t *testing.T) {
				var labels []string
				h := stage.Func(func(_ context.Context, w string) (string, error) {
					if strings.HasPrefix(w, "x") {
						return "", errors.New("no x")
					}
					return w, nil
				})
				dl := stage.DeadLetter(func(_ context.Context, d stage.DeadLetterItem) error {
					labels = append(labels, d.Item.(string))
					return nil
				})
				st := pipeline.New(source.Slice([]string{"a x1", "b c", "x2 x3", "d"}), pipeline.OnError(dl)).
					FlatMap(stage.Flat(words)).
					ParMap(workers, h, opts...).
					Sink(sink.Discard[string]()).Run(context.Background())
				require.Equal(t, 0, st.Code, st.Message)
				assert.ElementsMatch(t, []string{"x1", "x2", "x3"}, labels)
				assert.Equal(t, pipeline.Counts{In: 4, Done: 2, DeadLettered: 2}, st.Counts)
			})

			t.Run(name+": a failure counts its batch as failed and the rest as abandoned", func(t *testing.T) {
				h := stage.Func(func(_ context.Context, b []int) (int, error) {
					if b[0] == 30 {
						return 0, errors.New("bad batch")
					}
					return len(b), nil
				})
				st := pipeline.New(source.Slice(make100())).
					Batch(10).ParMap(workers, h, opts...).Sink(sink.Discard[int]()).Run(context.Background())
				require.Equal(t, 1, st.Code, st.Message)
				assert.Equal(t, int64(10), st.Counts.Failed)
				assert.Zero(t, st.Counts.Skipped+st.Counts.DeadLettered+st.Counts.Dropped)
				balanced(t, st.Counts)
			})

			t.Run(name+": a failing FlatMap child fails its parent at once", func(t *testing.T) {
				h := stage.Func(func(_ context.Context, w string) (string, error) {
					if w == "bad" {
						return "", errors.New("bad word")
					}
					return w, nil
				})
				st := pipeline.New(source.Slice([]string{"a b", "c bad d e f"})).
					FlatMap(stage.Flat(words)).ParMap(workers, h, opts...).
					Sink(sink.Discard[string]()).Run(context.Background())
				require.Equal(t, 1, st.Code, st.Message)
				assert.Equal(t, int64(1), st.Counts.Failed, "the parent of the failing child, once")
				balanced(t, st.Counts)
			})
		}
	}
}

func make100() []int {
	s := make([]int, 100)
	for i := range s {
		s[i] = i
	}
	return s
}
