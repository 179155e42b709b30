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
)

// A nil pointer in an interface is not == nil; before the check, each of
// these crashed Run (or the chain method) with a nil dereference.
func TestTypedNilsAreInvalid(t *testing.T) {
	var (
		nilSrc  *source.Of[int]
		nilSink *sink.Of[int]
		nilMap  *stage.Of[int, int]
		nilProc *stage.Proc[int, int]
		nilFlat *stage.FlatProc[int, int]
	)
	src := func() *source.Of[int] { return source.Slice([]int{1, 2, 3}) }
	cases := []struct {
		name  string
		build func() *pipeline.Pipeline
		want  []string
	}{
		{"source", func() *pipeline.Pipeline {
			return pipeline.New(nilSrc).Filter(func(int) bool { return true }).Sink(sink.Discard[int]())
		}, []string{"nil source", "*source.Of[int]"}},
		{"sink", func() *pipeline.Pipeline {
			return pipeline.New(src()).Sink(nilSink)
		}, []string{`stage 1 "sink"`, "nil sink", "*sink.Of[int]"}},
		{"stage", func() *pipeline.Pipeline {
			return pipeline.New(src()).Map(stage.Func(double)).Via(nilMap).Sink(sink.Discard[int]())
		}, []string{`stage 2 "via"`, "nil stage", "*stage.Of[int,int]"}},
		{"map task", func() *pipeline.Pipeline {
			return pipeline.New(src()).Map(nilProc).Sink(sink.Discard[int]())
		}, []string{`stage 1 "map"`, "nil handler", "*stage.Proc[int,int]"}},
		{"parmap task", func() *pipeline.Pipeline {
			return pipeline.New(src()).ParMap(2, nilProc).Sink(sink.Discard[int]())
		}, []string{`stage 1 "parmap"`, "nil handler", "*stage.Proc[int,int]"}},
		{"flatmap task", func() *pipeline.Pipeline {
			return pipeline.New(src()).FlatMap(nilFlat).Sink(sink.Discard[int]())
		}, []string{`stage 1 "flatmap"`, "nil function", "*stage.FlatProc[int,int]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.build().Run(context.Background())
			assert.Equal(t, pipeline.CodeInvalid, st.Code)
			assert.True(t, errors.Is(st.Err, pipeline.ErrInvalid), "errors.Is(%v, ErrInvalid)", st.Err)
			for _, w := range tc.want {
				assert.Contains(t, st.Message, w)
			}
		})
	}
}
