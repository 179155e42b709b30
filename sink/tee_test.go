package sink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// ledger is a New sink's output, like a file written through a temporary
// one: items written go to pending, and only a commit makes them final.
type ledger struct {
	opens, commits, aborts int
	final, pending         []int
	failWrite              func(v int) bool // items whose Write fails
	failCommit             error
}

func (l *ledger) sink(name string) *sink.Of[int] {
	return sink.New(name, func(context.Context) (sink.Writer[int], error) {
		l.opens++
		l.pending = nil
		return l, nil
	})
}

func (l *ledger) Write(_ context.Context, v int) error {
	if l.failWrite != nil && l.failWrite(v) {
		return errors.New("disk full")
	}
	l.pending = append(l.pending, v)
	return nil
}

func (l *ledger) Commit(context.Context) error {
	if l.failCommit != nil {
		return l.failCommit
	}
	l.commits++
	l.final = append(l.final, l.pending...)
	l.pending = nil
	return nil
}

func (l *ledger) Abort() error { l.aborts++; l.pending = nil; return nil }

// recorder is a Func sink that records its items and fails on bad ones.
func recorder(got *[]int, bad func(int) bool) *sink.Of[int] {
	return sink.Func(func(_ context.Context, v int) error {
		if bad != nil && bad(v) {
			return errBoom
		}
		*got = append(*got, v)
		return nil
	})
}

func TestTee(t *testing.T) {
	t.Run("every item reaches every sink, in order, and counts as done once", func(t *testing.T) {
		var collected, called []int
		l := &ledger{}
		tee := sink.Tee(sink.Collect(&collected), recorder(&called, nil), l.sink("ledger"))
		st := pipeline.New(source.Slice(upTo(200))).Sink(tee).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, upTo(200), collected)
		assert.Equal(t, upTo(200), called)
		assert.Equal(t, upTo(200), l.final)
		assert.Equal(t, 1, l.opens)
		assert.Equal(t, 1, l.commits)
		assert.Zero(t, l.aborts)
		assert.Equal(t, int64(200), st.Counts.In)
		assert.Equal(t, int64(200), st.Counts.Done, "an item counts once, not once per sink")
		assert.Equal(t, "tee", tee.Name())
	})

	t.Run("it works after stages, one item at a time from a generator and after a ParMap", func(t *testing.T) {
		var a, b []int
		gen := source.Func(func(_ context.Context, yield func(int) bool) error {
			for i := range 500 {
				if !yield(i) {
					return nil
				}
			}
			return nil
		})
		double := stage.Func(func(_ context.Context, v int) (int, error) { return 2 * v, nil })
		st := pipeline.New(gen).ParMap(4, double, stage.Ordered()).
			Filter(func(v int) bool { return v%3 != 0 }).
			Sink(sink.Tee(sink.Collect(&a), sink.Collect(&b))).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		var want []int
		for i := range 500 {
			if 2*i%3 != 0 {
				want = append(want, 2*i)
			}
		}
		assert.Equal(t, want, a)
		assert.Equal(t, want, b)
		assert.Equal(t, int64(len(want)), st.Counts.Done)
		assert.Equal(t, int64(500-len(want)), st.Counts.Dropped)
	})

	t.Run("a failure in the second sink fails the run under FailFast, naming that sink", func(t *testing.T) {
		var first, second []int
		l := &ledger{}
		tee := sink.Tee(sink.Collect(&first), recorder(&second, func(v int) bool { return v == 5 }).Named("store"), l.sink("ledger"))
		st := pipeline.New(source.Slice(upTo(10))).Sink(tee).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "tee", st.Stage)
		assert.Equal(t, "#5", st.Target)
		assert.Contains(t, st.Message, `sink 1 "store"`)
		assert.Contains(t, st.Message, "boom")

		// The first sink had accepted item 5 before the second failed it:
		// it keeps it. The third never saw it.
		assert.Equal(t, upTo(6), first)
		assert.Equal(t, upTo(5), second)
		assert.Equal(t, int64(5), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Failed)

		// The run failed: the New sink's output is aborted, not committed.
		assert.Equal(t, 1, l.opens)
		assert.Zero(t, l.commits)
		assert.Equal(t, 1, l.aborts)
		assert.Empty(t, l.final)

		var se *stage.Error
		require.ErrorAs(t, st.Err, &se)
		assert.Equal(t, 1, se.Index, "the tee follows the source directly")
	})

	t.Run("a failure in a New sink names it and aborts its output", func(t *testing.T) {
		var got []int
		l := &ledger{failWrite: func(v int) bool { return v == 3 }}
		st := pipeline.New(source.Slice(upTo(10))).
			Sink(sink.Tee(sink.Collect(&got), l.sink("ledger"))).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `sink 1 "ledger": disk full`)
		assert.Equal(t, "#3", st.Target)
		assert.Equal(t, 1, l.aborts)
		assert.Zero(t, l.commits)
	})

	t.Run("under Skip a failed item is skipped for all and the others go on", func(t *testing.T) {
		var first, second []int
		l := &ledger{}
		bad := func(v int) bool { return v%4 == 0 }
		tee := sink.Tee(sink.Collect(&first), recorder(&second, bad), l.sink("ledger"))
		st := pipeline.New(source.Slice(upTo(20)), pipeline.OnError(stage.Skip())).Sink(tee).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		want := []int{1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19}
		assert.Equal(t, upTo(20), first, "a sink before the failing one keeps every item: at least once")
		assert.Equal(t, want, second)
		assert.Equal(t, want, l.final, "a sink after the failing one never gets a skipped item")
		assert.Equal(t, 1, l.commits)
		assert.Zero(t, l.aborts)
		assert.Equal(t, int64(15), st.Counts.Done)
		assert.Equal(t, int64(5), st.Counts.Skipped)
	})

	t.Run("under Retry the sinks before the failing one get the item again", func(t *testing.T) {
		var first, second []int
		failed := false
		flaky := sink.Func(func(_ context.Context, v int) error {
			if v == 2 && !failed {
				failed = true
				return errBoom
			}
			second = append(second, v)
			return nil
		})
		st := pipeline.New(source.Slice(upTo(4)), pipeline.OnError(stage.Retry(3, 0, 0))).
			Sink(sink.Tee(sink.Collect(&first), flaky)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 1, 2, 2, 3}, first)
		assert.Equal(t, []int{0, 1, 2, 3}, second)
		assert.Equal(t, int64(4), st.Counts.Done)
		assert.Equal(t, int64(1), st.Counts.Retried)
	})

	t.Run("a failed commit fails the run, and every sink still gets its end", func(t *testing.T) {
		a := &ledger{}
		b := &ledger{failCommit: errors.New("rename failed")}
		c := &ledger{}
		tee := sink.Tee(a.sink("a"), b.sink("b"), c.sink("c"))
		st := pipeline.New(source.Slice(upTo(3))).Sink(tee).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "tee", st.Stage)
		assert.Equal(t, "commit", st.Target)
		assert.Contains(t, st.Message, `sink 1 "b": rename failed`)

		assert.Equal(t, upTo(3), a.final, "a commit is per sink: a's stays")
		assert.Equal(t, upTo(3), c.final, "c commits though b failed before it")
		assert.Zero(t, a.aborts)
		assert.Zero(t, c.aborts)
		assert.Equal(t, 1, b.aborts, "the sink whose commit failed is aborted")
		assert.Empty(t, b.final)
	})

	t.Run("the first of several commit errors comes first", func(t *testing.T) {
		errA, errC := errors.New("first"), errors.New("third")
		a, b, c := &ledger{failCommit: errA}, &ledger{}, &ledger{failCommit: errC}
		st := pipeline.New(source.Slice(upTo(3))).Sink(sink.Tee(a.sink("a"), b.sink("b"), c.sink("c"))).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errA)
		assert.ErrorIs(t, st.Err, errC)
		assert.Less(t, strings.Index(st.Message, `sink 0 "a"`), strings.Index(st.Message, `sink 2 "c"`))
		assert.Equal(t, 1, b.commits)
		assert.Equal(t, 1, a.aborts)
		assert.Equal(t, 1, c.aborts)
	})

	t.Run("an empty input opens and commits every New sink, as New does", func(t *testing.T) {
		var got []int
		l := &ledger{}
		st := pipeline.New(source.Slice([]int(nil))).Sink(sink.Tee(sink.Collect(&got), l.sink("ledger"))).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Empty(t, got)
		assert.Equal(t, 1, l.opens)
		assert.Equal(t, 1, l.commits)
	})

	t.Run("a run that fails before the tee opens nothing", func(t *testing.T) {
		l := &ledger{}
		st := pipeline.New(source.Slice([]int{1})).
			Via(stage.Map(func(context.Context, int) (int, error) { return 0, errors.New("early") })).
			Sink(sink.Tee(sink.Discard[int](), l.sink("ledger"))).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Zero(t, l.opens)
		assert.Zero(t, l.aborts)
	})

	t.Run("a New sink that fails to open is named", func(t *testing.T) {
		broken := sink.New("broken", func(context.Context) (sink.Writer[int], error) { return nil, errors.New("no such dir") })
		st := pipeline.New(source.Slice([]int{1})).Sink(sink.Tee(sink.Discard[int](), broken)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `sink 1 "broken"`)
		assert.Contains(t, st.Message, "opening the sink's output")
		assert.Contains(t, st.Message, "no such dir")
	})

	t.Run("a panic in a sink becomes a PanicError naming the sink", func(t *testing.T) {
		l := &ledger{}
		boom := sink.Func(func(context.Context, int) error { panic("sink exploded") }).Named("bomb")
		st := pipeline.New(source.Slice([]int{1})).Sink(sink.Tee(l.sink("ledger"), boom)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Contains(t, st.Message, `sink 1 "bomb"`)
		var pe *stage.PanicError
		require.ErrorAs(t, st.Err, &pe)
		assert.Equal(t, "sink exploded", pe.Value)
		assert.Contains(t, string(pe.Stack), "sink_test.TestTee")
		assert.Equal(t, 1, l.aborts)
	})

	t.Run("each run opens its own Writers, so one Tee serves several runs", func(t *testing.T) {
		var got []int
		l := &ledger{}
		tee := sink.Tee(sink.Collect(&got), l.sink("ledger"))
		for range 2 {
			st := pipeline.New(source.Slice([]int{1, 2, 3})).Sink(tee).Run(t.Context())
			require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		}
		assert.Equal(t, []int{1, 2, 3, 1, 2, 3}, got)
		assert.Equal(t, []int{1, 2, 3, 1, 2, 3}, l.final)
		assert.Equal(t, 2, l.opens)
		assert.Equal(t, 2, l.commits)
	})

	t.Run("a Tee nests, and Named renames it", func(t *testing.T) {
		var a, b, c []int
		inner := sink.Tee(sink.Collect(&b), recorder(&c, func(v int) bool { return v == 1 }).Named("deep"))
		tee := sink.Tee(sink.Collect(&a), inner).Named("fanout")
		st := pipeline.New(source.Slice(upTo(3))).Sink(tee).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "fanout", st.Stage)
		assert.Contains(t, st.Message, `sink 1 "tee": sink 1 "deep": boom`)
		assert.Equal(t, []int{0, 1}, a)
		assert.Equal(t, []int{0, 1}, b)
		assert.Equal(t, []int{0}, c)
	})

	t.Run("a file sink is renamed into place on success and leaves nothing on failure", func(t *testing.T) {
		dir := t.TempDir()
		ok, bad := filepath.Join(dir, "ok.txt"), filepath.Join(dir, "bad.txt")
		var got []string
		st := pipeline.New(source.Slice([]string{"a", "b"})).
			Sink(sink.Tee(textsink.LinesFile(ok), sink.Collect(&got))).Run(t.Context())
		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		data, err := os.ReadFile(ok)
		require.NoError(t, err)
		assert.Equal(t, "a\nb\n", string(data))
		assert.Equal(t, []string{"a", "b"}, got)

		fail := sink.Func(func(_ context.Context, s string) error {
			if s == "b" {
				return errBoom
			}
			return nil
		})
		st = pipeline.New(source.Slice([]string{"a", "b", "c"})).
			Sink(sink.Tee(textsink.LinesFile(bad), fail)).Run(t.Context())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "the failed run's file was aborted: no file, no temporary")
		assert.Equal(t, "ok.txt", entries[0].Name())
	})

	t.Run("invalid arguments make an invalid pipeline naming the sink", func(t *testing.T) {
		for _, c := range []struct {
			name string
			tee  *sink.Of[int]
			want []string
		}{
			{"no sinks", sink.Tee[int](), []string{`"tee"`, "no sinks"}},
			{"a nil sink", sink.Tee(sink.Discard[int](), nil), []string{`"tee"`, "sink 1 is nil"}},
			{"an invalid sink", sink.Tee(sink.Discard[int](), sink.Collect[int](nil)), []string{`"tee"`, `sink 1 "collect"`, "nil destination slice pointer"}},
			{"a zero sink", sink.Tee(&sink.Of[int]{}), []string{`sink 0 ""`}},
		} {
			t.Run(c.name, func(t *testing.T) {
				require.Error(t, c.tee.Err())
				st := pipeline.New(source.Slice([]int{1})).Sink(c.tee).Run(t.Context())

				require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
				for _, w := range c.want {
					assert.Contains(t, st.Message, w)
				}
				assert.Zero(t, st.Counts.In, "nothing runs")
			})
		}
	})
}
