//go:build race

package source_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// Two goroutines of one generator calling yield at once raced on the
// source's state (and pushed into a sequential stage from two goroutines):
// the run ended with code 0. In race-enabled builds it now fails the run,
// naming the source. The overlap is certain: the stage after the source
// holds item 1, inside the first yield, until the second yield returned.
func TestYieldFromSeveralGoroutinesAtOnceFailsTheRun(t *testing.T) {
	// overlap is a generator body: yield(1) and yield(2) at once.
	overlap := func(yield func(int) bool, holding <-chan struct{}, second chan<- struct{}) error {
		var wg sync.WaitGroup
		wg.Go(func() { yield(1) })
		wg.Go(func() {
			<-holding
			yield(2)
			close(second)
		})
		wg.Wait()
		return nil
	}
	cases := map[string]func(holding <-chan struct{}, second chan<- struct{}) *source.Of[int]{
		"Func": func(holding <-chan struct{}, second chan<- struct{}) *source.Of[int] {
			return source.Func(func(_ context.Context, yield func(int) bool) error {
				return overlap(yield, holding, second)
			})
		},
		"WithReceipts": func(holding <-chan struct{}, second chan<- struct{}) *source.Of[int] {
			return source.WithReceipts(func(_ context.Context, emit func(int, source.Receipt) bool) error {
				return overlap(func(v int) bool { return emit(v, nil) }, holding, second)
			})
		},
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			holding, second := make(chan struct{}), make(chan struct{})
			hold := stage.Func(func(_ context.Context, v int) (int, error) {
				if v == 1 {
					close(holding)
					<-second
				}
				return v, nil
			})
			st := pipeline.New(src(holding, second)).Map(hold).Sink(sink.Discard[int]()).Run(t.Context())
			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Contains(t, st.Message, `"source"`)
			assert.Contains(t, st.Message, "yield called from several goroutines at once")
		})
	}
}
