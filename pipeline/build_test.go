package pipeline_test

import (
	"context"
	"errors"
	"testing"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spySource reports whether its generator ever ran: an invalid pipeline
// must not start anything.
func spySource(started *bool) *source.Of[int] {
	return source.Func(func(_ context.Context, yield func(int) bool) error {
		*started = true
		for i := range 10 {
			if !yield(i) {
				return nil
			}
		}
		return nil
	})
}

func double(_ context.Context, v int) (int, error) { return 2 * v, nil }
func itoa(_ context.Context, v int) (string, error) {
	return string(rune('a' + v%26)), nil
}

func TestInvalidPipelinesRunNothing(t *testing.T) {
	var nilStage stage.Stage
	cases := []struct {
		name  string
		build func(src *source.Of[int]) *pipeline.Pipeline
		want  []string // all must appear in the message
	}{
		{
			name: "a type mismatch names both stages and both types",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				var got []int
				return pipeline.New(src).
					Via(stage.Map(itoa, stage.Name("to-letter"))).
					Via(stage.Map(double, stage.Name("doubler"))).
					Sink(sink.Collect(&got))
			},
			want: []string{`stage 2 "doubler"`, "takes int", `stage 1 "to-letter"`, "gives string"},
		},
		{
			name: "a sink of the wrong type names both types",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				var got []string
				return pipeline.New(src).Sink(sink.Collect(&got))
			},
			want: []string{"sink takes string", "gives int"},
		},
		{
			name: "workers below one",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).ParMap(0, stage.Func(double)).Sink(sink.Discard[int]())
			},
			want: []string{`"parmap"`, "workers must be >= 1, got 0"},
		},
		{
			name: "a nil handler",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).ParMap(2, stage.Func[int, int](nil)).Sink(sink.Discard[int]())
			},
			want: []string{`"parmap"`, "nil handler"},
		},
		{
			name: "a nil task",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).Map(nil).Sink(sink.Discard[int]())
			},
			want: []string{`"map"`, "nil handler"},
		},
		{
			name: "a nil stage",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).Via(nilStage).Sink(sink.Discard[int]())
			},
			want: []string{"nil stage"},
		},
		{
			name: "a missing sink",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).Map(stage.Func(double))
			},
			want: []string{"no sink"},
		},
		{
			name: "a batch size below one",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).Batch(0).Sink(sink.Discard[[]int]())
			},
			want: []string{`"batch"`, "batch size must be >= 1, got 0"},
		},
		{
			name: "a label function of another type",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).
					ParMap(2, stage.Func(double), stage.Label(func(s string) string { return s })).
					Sink(sink.Discard[int]())
			},
			want: []string{`"parmap"`, "func(string) string", "takes int"},
		},
		{
			name: "an invalid pipeline error policy",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src, pipeline.OnError(stage.Retry(0, 0, 0))).Sink(sink.Discard[int]())
			},
			want: []string{"retry attempts must be >= 1"},
		},
		{
			name: "several problems are all reported",
			build: func(src *source.Of[int]) *pipeline.Pipeline {
				return pipeline.New(src).ParMap(-1, stage.Func(double)).Batch(0)
			},
			want: []string{"workers must be >= 1", `"batch": follows a stage that cannot be typed`, "no sink"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started := false
			st := tc.build(spySource(&started)).Run(context.Background())
			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.True(t, errors.Is(st.Err, pipeline.ErrInvalid), "errors.Is(%v, ErrInvalid)", st.Err)
			for _, w := range tc.want {
				assert.Contains(t, st.Message, w)
			}
			assert.False(t, started, "the source must not run")
			assert.Zero(t, st.Counts.In)
		})
	}
}

func TestNilSourceIsInvalid(t *testing.T) {
	st := pipeline.New(nil).Filter(func(int) bool { return true }).Sink(sink.Discard[int]()).Run(context.Background())
	assert.Equal(t, pipeline.CodeInvalid, st.Code)
	assert.Contains(t, st.Message, "nil source")
}

func TestChainMethodsLeaveTheirReceiverUnchanged(t *testing.T) {
	base := pipeline.New(source.Slice([]int{1, 2, 3})).Map(stage.Func(double))
	var a, b []int
	stA := base.Sink(sink.Collect(&a)).Run(context.Background())
	stB := base.Filter(func(v int) bool { return v > 2 }).Sink(sink.Collect(&b)).Run(context.Background())
	require.Equal(t, 0, stA.Code, stA.Message)
	require.Equal(t, 0, stB.Code, stB.Message)
	assert.Equal(t, []int{2, 4, 6}, a)
	assert.Equal(t, []int{4, 6}, b)
}
