package stage_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// itemsLogged returns the "item" field of each entry, in order, and checks
// that each also carries a non-negative "time spent" duration.
func itemsLogged(t *testing.T, entries []observer.LoggedEntry) []string {
	t.Helper()
	var items []string
	for _, e := range entries {
		fields := e.ContextMap()
		item, ok := fields["item"].(string)
		assert.True(t, ok, "entry %q has no string item field: %v", e.Message, fields)
		items = append(items, item)
		spent, ok := fields["time spent"].(time.Duration)
		if assert.True(t, ok, "entry %q has no time spent duration: %v", e.Message, fields) {
			assert.GreaterOrEqual(t, spent, time.Duration(0))
		}
	}
	return items
}

func TestLog(t *testing.T) {
	t.Run("it writes one info entry per item and passes items on", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(5)), pipeline.WithLogger(zap.New(core))).
			Via(stage.Log[int]("seen")).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, ints(5), got)
		entries := logs.All()
		require.Len(t, entries, 5)
		for _, e := range entries {
			assert.Equal(t, "seen", e.Message)
			assert.Equal(t, zapcore.InfoLevel, e.Level)
			assert.Equal(t, "log", e.LoggerName, "the logger is named after the stage")
		}
		assert.Equal(t, []string{"#0", "#1", "#2", "#3", "#4"}, itemsLogged(t, entries))
	})

	t.Run("the item field is the Label", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		st := run(t, pipeline.New(source.Slice(ints(3)), pipeline.WithLogger(zap.New(core))).
			Via(stage.Log[int]("batch_done", stage.Label(func(v int) string { return fmt.Sprintf("%d / 3", v+1) }), stage.Name("progress"))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		entries := logs.FilterMessage("batch_done").All()
		assert.Equal(t, []string{"1 / 3", "2 / 3", "3 / 3"}, itemsLogged(t, entries))
		for _, e := range entries {
			assert.Equal(t, "progress", e.LoggerName)
		}
	})

	for _, c := range []struct {
		every, n int
		want     []string
	}{
		{every: 3, n: 10, want: []string{"#0", "#3", "#6", "#9"}},
		{every: 5, n: 10, want: []string{"#0", "#5"}},
		{every: 1, n: 3, want: []string{"#0", "#1", "#2"}},
		{every: 20, n: 10, want: []string{"#0"}},
	} {
		t.Run(fmt.Sprintf("Every(%d) on %d items writes %d entries", c.every, c.n, len(c.want)), func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			var got []int
			st := run(t, pipeline.New(source.Slice(ints(c.n)), pipeline.WithLogger(zap.New(core))).
				Via(stage.Log[int]("tick", stage.Every(c.every))).
				Sink(sink.Collect(&got)))

			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
			assert.Equal(t, ints(c.n), got, "every item passes, logged or not")
			assert.Equal(t, c.want, itemsLogged(t, logs.All()))
		})
	}

	t.Run("Every(0) is invalid", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).Via(stage.Log[int]("x", stage.Every(0))).Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"log"`)
		assert.Contains(t, st.Message, "every")
	})

	t.Run("a logger above info writes nothing and still passes items on", func(t *testing.T) {
		core, logs := observer.New(zap.WarnLevel)
		var got []int
		st := run(t, pipeline.New(source.Slice(ints(4)), pipeline.WithLogger(zap.New(core))).
			Via(stage.Log[int]("quiet")).
			Sink(sink.Collect(&got)))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, ints(4), got)
		assert.Zero(t, logs.Len())
	})

	t.Run("a label for another type is invalid even when nothing would be logged", func(t *testing.T) {
		st := run(t, pipeline.New(source.Slice(ints(3))).
			Via(stage.Log[int]("x", stage.Label(func(s string) string { return s }))).
			Sink(sink.Discard[int]()))

		assert.Equal(t, pipeline.CodeInvalid, st.Code)
		assert.Contains(t, st.Message, "func(string) string")
	})
}

func TestParMapLogsDoneAtDebug(t *testing.T) {
	const n = 30
	for _, workers := range []int{1, 4, 8} {
		for _, ord := range orderings {
			t.Run(fmt.Sprintf("with %d workers %s each item is logged once by its worker", workers, ord.name), func(t *testing.T) {
				core, logs := observer.New(zap.DebugLevel)
				st := run(t, pipeline.New(source.Slice(ints(n)), pipeline.WithLogger(zap.New(core))).
					Via(stage.ParMap(workers, stage.Func(skewed), ord.opts(stage.Name("work"))...)).
					Sink(sink.Discard[int]()))

				require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
				done := logs.FilterMessage("done").All()
				require.Len(t, done, n)
				want := make([]string, n)
				for i := range want {
					want[i] = "#" + strconv.Itoa(i)
				}
				assert.ElementsMatch(t, want, itemsLogged(t, done))
				for _, e := range done {
					assert.Equal(t, zapcore.DebugLevel, e.Level)
					id, ok := strings.CutPrefix(e.LoggerName, "work.worker-")
					if assert.True(t, ok, "logger %q is not a worker of stage work", e.LoggerName) {
						k, err := strconv.Atoi(id)
						assert.NoError(t, err)
						assert.True(t, k >= 1 && k <= workers, "worker %d of %d", k, workers)
					}
				}
			})
		}
	}

	t.Run("the done entry carries the Label", func(t *testing.T) {
		core, logs := observer.New(zap.DebugLevel)
		st := run(t, pipeline.New(source.Slice(ints(3)), pipeline.WithLogger(zap.New(core))).
			Via(stage.ParMap(2, stage.Func(skewed), stage.Label(label))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.ElementsMatch(t, []string{"item 0", "item 1", "item 2"}, itemsLogged(t, logs.FilterMessage("done").All()))
	})

	t.Run("skipped items are not logged as done", func(t *testing.T) {
		core, logs := observer.New(zap.DebugLevel)
		st := run(t, pipeline.New(source.Slice(ints(10)), pipeline.WithLogger(zap.New(core))).
			Via(stage.ParMap(3, stage.Func(failOn(multipleOf(5))), stage.OnError(stage.Skip()))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, 8, logs.FilterMessage("done").Len())
		assert.Equal(t, 2, logs.FilterMessage("item skipped").Len())
	})

	t.Run("nothing is logged at info level", func(t *testing.T) {
		core, logs := observer.New(zap.InfoLevel)
		st := run(t, pipeline.New(source.Slice(ints(10)), pipeline.WithLogger(zap.New(core))).
			Via(stage.ParMap(3, stage.Func(skewed))).
			Sink(sink.Discard[int]()))

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Zero(t, logs.Len())
	})
}
