package source_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// errBoom is the cause that failing generators and sinks return.
var errBoom = errors.New("boom")

// count returns a generator that yields 0, 1, ... n-1, stopping when yield
// says so, and records in *made how many items it produced.
func count(n int, made *int) func(context.Context, func(int) bool) error {
	return func(_ context.Context, yield func(int) bool) error {
		for i := range n {
			*made++
			if !yield(i) {
				return nil
			}
		}
		return nil
	}
}

// failAt returns a sink that accepts items until the one equal to bad.
func failAt(bad int) *sink.Of[int] {
	return sink.Func(func(_ context.Context, v int) error {
		if v == bad {
			return errBoom
		}
		return nil
	})
}

func TestFunc(t *testing.T) {
	t.Run("it emits what the generator yields, in order", func(t *testing.T) {
		var made int
		var got []int
		st := pipeline.New(source.Func(count(5, &made))).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, []int{0, 1, 2, 3, 4}, got)
		assert.Equal(t, int64(5), st.Counts.In)
		assert.Equal(t, int64(5), st.Counts.Done)
	})

	t.Run("Counts.In is the number of items emitted, whatever the stages after it keep", func(t *testing.T) {
		var made int
		var got []int
		st := pipeline.New(source.Func(count(10, &made))).
			Filter(func(v int) bool { return v%2 == 0 }).
			Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
		assert.Equal(t, int64(10), st.Counts.In)
		assert.Equal(t, int64(5), st.Counts.Done)
		assert.Equal(t, int64(5), st.Counts.Dropped)
	})

	t.Run("each run calls the generator anew", func(t *testing.T) {
		var made int
		var got []int
		p := pipeline.New(source.Func(count(3, &made))).Sink(sink.Collect(&got))

		require.Equal(t, pipeline.CodeSuccess, p.Run(t.Context()).Code)
		require.Equal(t, pipeline.CodeSuccess, p.Run(t.Context()).Code)
		assert.Equal(t, []int{0, 1, 2, 0, 1, 2}, got)
		assert.Equal(t, 6, made)
	})

	t.Run("a generator error fails the run with code 1 in the source stage", func(t *testing.T) {
		gen := func(_ context.Context, yield func(int) bool) error {
			for i := range 3 {
				if !yield(i) {
					return nil
				}
			}
			return errBoom
		}
		var got []int
		st := pipeline.New(source.Func(gen)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "source", st.Stage)
		// The label counts the items emitted before the failure: the source
		// failed while making item #3.
		assert.Equal(t, "#3", st.Target)
		assert.Contains(t, st.Message, "boom")
		// Items emitted before the error still reached the sink: the source
		// is fused with it and pushes each item before making the next.
		assert.Equal(t, []int{0, 1, 2}, got)
		assert.Equal(t, int64(3), st.Counts.In)

		var se *stage.Error
		require.ErrorAs(t, st.Err, &se)
		assert.Equal(t, 0, se.Index, "the source is stage 0")
	})

	t.Run("a generator panic becomes a PanicError with its stack", func(t *testing.T) {
		gen := func(_ context.Context, yield func(int) bool) error {
			yield(1)
			panic("generator exploded")
		}
		st := pipeline.New(source.Func(gen)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "source", st.Stage)
		var pe *stage.PanicError
		require.ErrorAs(t, st.Err, &pe)
		assert.Equal(t, "generator exploded", pe.Value)
		// The stack is the generator's goroutine at the panic, so it names
		// the function that panicked.
		assert.Contains(t, string(pe.Stack), "source_test.TestFunc")
		assert.Contains(t, st.Message, "generator exploded")
	})

	t.Run("a panic with an error value is matched by errors.Is", func(t *testing.T) {
		gen := func(context.Context, func(int) bool) error { panic(errBoom) }
		st := pipeline.New(source.Func(gen)).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		var pe *stage.PanicError
		assert.ErrorAs(t, st.Err, &pe)
	})

	t.Run("yield returns false when the sink fails, and the generator stops early", func(t *testing.T) {
		const total = 1_000_000
		var made int
		st := pipeline.New(source.Func(count(total, &made))).Sink(failAt(3)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "sink", st.Stage)
		assert.Equal(t, "#3", st.Target)
		// The sink runs in the source's goroutine, so the very yield that
		// carried the bad item returned false: nothing was made after it.
		assert.Equal(t, 4, made)
		assert.Equal(t, int64(4), st.Counts.In)
	})

	t.Run("yield returns false when a concurrent stage fails, and the generator stops early", func(t *testing.T) {
		const total = 1_000_000
		var made int
		fail := stage.Func(func(_ context.Context, v int) (int, error) {
			if v == 10 {
				return 0, errBoom
			}
			return v, nil
		})
		st := pipeline.New(source.Func(count(total, &made))).
			ParMap(4, fail).
			Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "parmap", st.Stage)
		// The failure reaches the source through the run's context; bounded
		// buffers keep it from getting far ahead meanwhile.
		assert.Less(t, made, total)
		// made counts the item whose yield said false, which was not emitted.
		assert.LessOrEqual(t, st.Counts.In, int64(made))
		assert.GreaterOrEqual(t, st.Counts.In, int64(made-1))
	})

	t.Run("what the generator returns after yield said false is ignored", func(t *testing.T) {
		gen := func(_ context.Context, yield func(int) bool) error {
			for i := 0; ; i++ {
				if !yield(i) {
					return errors.New("returned while stopping")
				}
			}
		}
		st := pipeline.New(source.Func(gen)).Sink(failAt(2)).Run(t.Context())

		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Equal(t, "sink", st.Stage)
		assert.NotContains(t, st.Message, "returned while stopping")
	})

	t.Run("what the generator returns after a drain made yield say false is ignored", func(t *testing.T) {
		stop := make(chan os.Signal, 1)
		var got []int
		gen := func(_ context.Context, yield func(int) bool) error {
			stop <- os.Interrupt
			// This generator does not watch ctx; it learns of the drain
			// from yield, and then returns an error as it may.
			for i := 0; ; i++ {
				if !yield(i) {
					return errors.New("returned while stopping")
				}
			}
		}
		st := pipeline.New(source.Func(gen), pipeline.WithStopChannel(stop)).
			Sink(sink.Collect(&got)).Run(t.Context())

		assert.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		assert.NotContains(t, st.Message, "returned while stopping")
		assert.Len(t, got, int(st.Counts.In))
	})

	t.Run("a nil generator makes an invalid pipeline", func(t *testing.T) {
		var got []int
		st := pipeline.New(source.Func[int](nil)).Sink(sink.Collect(&got)).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, "nil generator")
		assert.Contains(t, st.Message, `"source"`)
		assert.Zero(t, st.Counts.In)
	})

	t.Run("Named renames the source in errors", func(t *testing.T) {
		gen := func(context.Context, func(int) bool) error { return errBoom }
		src := source.Func(gen)
		named := src.Named("numbers")

		st := pipeline.New(named).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
		assert.Equal(t, "numbers", st.Stage)
		assert.Contains(t, st.Message, `"numbers"`)

		// Named returns a copy and leaves the original as it was.
		assert.Equal(t, "numbers", named.Name())
		assert.Equal(t, "source", src.Name())

		st = pipeline.New(source.Func[int](nil).Named("numbers")).Sink(sink.Discard[int]()).Run(t.Context())
		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.Contains(t, st.Message, `"numbers"`)
	})

	t.Run("a drain stops a generator that waits on ctx, and its items still finish", func(t *testing.T) {
		stop := make(chan os.Signal, 1)
		var got []int
		gen := func(ctx context.Context, yield func(int) bool) error {
			for i := range 3 {
				if !yield(i) {
					return nil
				}
			}
			// Ask for a drain, then wait for it like a blocking generator.
			stop <- os.Interrupt
			<-ctx.Done()
			return ctx.Err()
		}
		st := pipeline.New(source.Func(gen), pipeline.WithStopChannel(stop)).
			Sink(sink.Collect(&got)).Run(t.Context())

		assert.Equal(t, 128+int(syscall.SIGINT), st.Code, st.Message)
		assert.Equal(t, []int{0, 1, 2}, got)
		assert.Equal(t, int64(3), st.Counts.Done)
	})
}
