package stage_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestStageDescribesItself(t *testing.T) {
	cases := []struct {
		stage     stage.Stage
		name      string
		in, out   reflect.Type
		wantValid bool
	}{
		{stage.Map(itoa), "map", reflect.TypeFor[int](), reflect.TypeFor[string](), true},
		{stage.ParMap(2, stage.Func(length)), "parmap", reflect.TypeFor[string](), reflect.TypeFor[int](), true},
		{stage.Filter(even), "filter", reflect.TypeFor[int](), reflect.TypeFor[int](), true},
		{stage.FlatMap(repeat), "flatmap", reflect.TypeFor[int](), reflect.TypeFor[int](), true},
		{stage.Tap(tapPanicsOnOne), "tap", reflect.TypeFor[int](), reflect.TypeFor[int](), true},
		{stage.Batch[string](3), "batch", reflect.TypeFor[string](), reflect.TypeFor[[]string](), true},
		{stage.Log[error]("x"), "log", reflect.TypeFor[error](), reflect.TypeFor[error](), true},
		{stage.Map(itoa, stage.Name("format")), "format", reflect.TypeFor[int](), reflect.TypeFor[string](), true},
		{stage.Batch[int](0), "batch", reflect.TypeFor[int](), reflect.TypeFor[[]int](), false},
		{stage.ParMap(0, stage.Func(length), stage.Name("p")), "p", reflect.TypeFor[string](), reflect.TypeFor[int](), false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s from %v to %v", c.name, c.in, c.out), func(t *testing.T) {
			assert.Equal(t, c.name, c.stage.Name())
			assert.Equal(t, c.in, c.stage.In())
			assert.Equal(t, c.out, c.stage.Out())
			if c.wantValid {
				assert.NoError(t, c.stage.Err())
				return
			}
			err := c.stage.Err()
			assert.ErrorIs(t, err, pipeline.ErrInvalid)
			var be *stage.BuildError
			if assert.ErrorAs(t, err, &be) {
				assert.Equal(t, c.name, be.Stage)
				assert.NotEmpty(t, be.Reason)
			}
		})
	}
}

func TestOneStageValueInManyPipelinesAtOnce(t *testing.T) {
	// A stage value holds only configuration, so the same value may run in
	// several pipelines at the same time; the race detector checks that no
	// run state is shared between them.
	const runs, n = 6, 60
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core)
	work := stage.Chain(
		stage.Chain(stage.Tap(func(context.Context, int) error { return nil }), stage.Filter(even)),
		stage.Chain(stage.Log[int]("seen", stage.Every(10)), stage.FlatMap(func(_ context.Context, v int) ([]int, error) { return []int{v, v}, nil })),
	)
	stages := []struct {
		name  string
		stage *stage.Of[int, []int]
	}{
		{"sequential", stage.Chain(stage.Chain(work, stage.Map(func(_ context.Context, v int) (int, error) { return v + 1, nil })), stage.Batch[int](4))},
		{"ordered parmap", stage.Chain(stage.Chain(work, stage.ParMap(4, stage.Func(skewed), stage.Ordered(), stage.Window(5))), stage.Batch[int](4))},
		{"timed batch", stage.Chain(work, stage.Batch[int](4, stage.MaxWait(time.Hour)))},
	}
	for _, s := range stages {
		t.Run(s.name+" runs in several pipelines at once", func(t *testing.T) {
			var wg sync.WaitGroup
			results := make([][][]int, runs)
			codes := make([]int, runs)
			for i := range runs {
				wg.Go(func() {
					st := run(t, pipeline.New(source.Slice(ints(n)), pipeline.WithLogger(logger)).Via(s.stage).Sink(sink.Collect(&results[i])))
					codes[i] = st.Code
				})
			}
			wg.Wait()
			for i := range runs {
				require.Equal(t, pipeline.CodeSuccess, codes[i], "run %d", i)
				assert.Equal(t, results[0], results[i], "run %d differs from run 0", i)
			}
			assert.Len(t, results[0], n/4, "n/2 even items, doubled, in batches of 4")
		})
	}
	assert.Equal(t, len(stages)*runs*3, logs.FilterMessage("seen").Len(), "each run logs items #0, #10 and #20 of its own")
}
