package stage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// TestOptionsThatDoNotApply gives every option to every kind of stage: an
// option the stage has no use for makes the pipeline invalid, naming the
// option and the stage, instead of being ignored.
func TestOptionsThatDoNotApply(t *testing.T) {
	id := func(_ context.Context, v int) (int, error) { return v, nil }
	perWorker := stage.PerWorker(func(context.Context, stage.Worker) (stage.Handler[int, int], error) {
		return identity{}, nil
	})
	// Each kind of stage, built with opts into a pipeline of ints.
	kinds := map[string]func(opts ...stage.Option) *pipeline.Pipeline{
		"map": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Map(id, opts...)).Sink(sink.Discard[int]())
		},
		"map (per worker)": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(perWorker.MapStage(opts...)).Sink(sink.Discard[int]())
		},
		"parmap": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.ParMap(2, stage.Func(id), opts...)).Sink(sink.Discard[int]())
		},
		"keyby": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.KeyBy(2, func(v int) int { return v }, stage.Func(id), opts...)).Sink(sink.Discard[int]())
		},
		"filter": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Filter(func(context.Context, int) (bool, error) { return true, nil }, opts...)).Sink(sink.Discard[int]())
		},
		"dedup": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Dedup(func(v int) int { return v }, 4, opts...)).Sink(sink.Discard[int]())
		},
		"tap": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Tap(func(context.Context, int) error { return nil }, opts...)).Sink(sink.Discard[int]())
		},
		"flatmap": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.FlatMap(func(_ context.Context, v int) ([]int, error) { return []int{v}, nil }, opts...)).Sink(sink.Discard[int]())
		},
		"reduce": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Reduce(0, func(_ context.Context, a, v int) (int, error) { return a + v, nil }, opts...)).Sink(sink.Discard[int]())
		},
		"log": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Log[int]("seen", opts...)).Sink(sink.Discard[int]())
		},
		"batch": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Batch[int](2, opts...)).Sink(sink.Discard[[]int]())
		},
		"unbatch": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.Batch[int](2)).Via(stage.Unbatch[int](opts...)).Sink(sink.Discard[int]())
		},
		"window": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.TimeWindow[int](time.Hour, opts...)).Sink(sink.Discard[[]int]())
		},
		"ratelimit": func(opts ...stage.Option) *pipeline.Pipeline {
			return ints3().Via(stage.RateLimit[int](1e6, 10, opts...)).Sink(sink.Discard[int]())
		},
	}
	options := map[string]stage.Option{
		"Name":    stage.Name("s"),
		"Buffer":  stage.Buffer(8),
		"Ordered": stage.Ordered(),
		"Window":  stage.Window(8),
		"Label":   stage.Label(label),
		"OnError": stage.OnError(stage.Skip()),
		"MaxWait": stage.MaxWait(time.Second),
		"Every":   stage.Every(2),
	}
	// fine lists, for each kind, the options that apply to it alone; every
	// other option alone is invalid.
	userCode := "Name Label OnError"
	fine := map[string]string{
		"map":              userCode,
		"map (per worker)": userCode + " Buffer",
		"parmap":           userCode + " Buffer Ordered",
		"keyby":            userCode + " Buffer",
		"filter":           userCode,
		"dedup":            userCode,
		"tap":              userCode,
		"flatmap":          userCode,
		"reduce":           userCode,
		"log":              userCode + " Every",
		"batch":            "Name MaxWait",
		"unbatch":          "Name",
		"window":           "Name Buffer",
		"ratelimit":        "Name",
	}
	for kind, build := range kinds {
		for opt, o := range options {
			t.Run(kind+"/"+opt, func(t *testing.T) {
				st := run(t, build(o))
				if strings.Contains(" "+fine[kind]+" ", " "+opt+" ") {
					assert.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
					return
				}
				assert.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
				assert.Contains(t, st.Message, "option "+opt)
				assert.Contains(t, st.Message, strings.TrimSuffix(kind, " (per worker)"))
			})
		}
	}

	// Options that apply only together.
	combos := []struct {
		name  string
		p     *pipeline.Pipeline
		valid bool
		msg   string
	}{
		{"parmap Window with Ordered", kinds["parmap"](stage.Ordered(), stage.Window(8)), true, ""},
		{"parmap Window without Ordered", kinds["parmap"](stage.Window(8)), false, "option Window applies to a parmap stage only with Ordered"},
		{"batch Buffer with MaxWait", kinds["batch"](stage.MaxWait(time.Second), stage.Buffer(8)), true, ""},
		{"batch Buffer without MaxWait", kinds["batch"](stage.Buffer(8)), false, "option Buffer applies to a batch stage only with MaxWait"},
	}
	for _, c := range combos {
		t.Run(c.name, func(t *testing.T) {
			st := run(t, c.p)
			if c.valid {
				assert.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				return
			}
			assert.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
			assert.Contains(t, st.Message, c.msg)
		})
	}
}

func ints3() *pipeline.Pipeline { return pipeline.New(source.Slice(ints(3))) }

type identity struct{}

func (identity) Handle(_ context.Context, v int) (int, error) { return v, nil }
