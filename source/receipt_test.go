package source_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// ackReceipt is a fake source.Receipt that records its Settle calls.
type ackReceipt struct {
	mu       sync.Mutex
	outcomes []source.Outcome
}

func (r *ackReceipt) Delivery() (int, bool) { return 1, false }

func (r *ackReceipt) Settle(o source.Outcome, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
}

func (r *ackReceipt) settled() []source.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]source.Outcome(nil), r.outcomes...)
}

func TestWithReceipts(t *testing.T) {
	t.Run("a nil generator makes an invalid pipeline naming the source", func(t *testing.T) {
		src := source.WithReceipts[int](nil)
		require.Error(t, src.Err())
		for _, c := range []struct {
			src  *source.Of[int]
			name string
		}{{src, `"source"`}, {src.Named("queue"), `"queue"`}} {
			st := pipeline.New(c.src).Sink(sink.Discard[int]()).Run(t.Context())

			require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
			assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
			assert.Contains(t, st.Message, "nil generator")
			assert.Contains(t, st.Message, c.name)
			assert.Zero(t, st.Counts.In)
		}
	})

	t.Run("Merge does not take it, and says its items carry receipts", func(t *testing.T) {
		var called atomic.Bool
		withReceipts := source.WithReceipts(func(_ context.Context, yield func(int, source.Receipt) bool) error {
			called.Store(true)
			yield(1, &ackReceipt{})
			return nil
		})
		m := source.Merge(source.Slice([]int{1, 2}), withReceipts)
		require.Error(t, m.Err())
		st := pipeline.New(m).Sink(sink.Discard[int]()).Run(t.Context())

		require.Equal(t, pipeline.CodeInvalid, st.Code, st.Message)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid)
		assert.Contains(t, st.Message, `"merge"`)
		assert.Contains(t, st.Message, `source 1 "source"`)
		assert.Contains(t, st.Message, "receipts")
		assert.False(t, called.Load(), "nothing runs")
		assert.Zero(t, st.Counts.In)
	})

	t.Run("a generator's error or panic fails the run as Func's does", func(t *testing.T) {
		for _, c := range []struct {
			name string
			end  func() error // what the generator does after its three items
		}{
			{"error", func() error { return errBoom }},
			{"panic", func() error { panic(errBoom) }},
		} {
			t.Run(c.name, func(t *testing.T) {
				rs := []*ackReceipt{{}, {}, {}}
				gen := func(_ context.Context, yield func(int, source.Receipt) bool) error {
					for i, r := range rs {
						if !yield(i, r) {
							return nil
						}
					}
					return c.end()
				}
				var got []int
				st := pipeline.New(source.WithReceipts(gen)).Sink(sink.Collect(&got)).Run(t.Context())

				require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
				assert.ErrorIs(t, st.Err, errBoom)
				assert.Equal(t, "source", st.Stage)
				assert.Equal(t, "#3", st.Target)
				assert.Contains(t, st.Message, "boom")
				if c.name == "panic" {
					var pe *stage.PanicError
					assert.ErrorAs(t, st.Err, &pe)
				}
				// The items yielded before went through the sink, which runs
				// in the source's goroutine, and their receipts settled.
				assert.Equal(t, []int{0, 1, 2}, got)
				assert.Equal(t, int64(3), st.Counts.In)
				assert.Equal(t, int64(3), st.Counts.Done)
				for i, r := range rs {
					assert.Equal(t, []source.Outcome{source.Done}, r.settled(), "item %d", i)
				}
			})
		}
	})
}
