package jetstream_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/jetstream"
	"github.com/conveyor-go/conveyor/stage"
)

func TestEveryItemReachesTheSinkAndTheQueueEmpties(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		for _, order := range [][]stage.Option{nil, {stage.Ordered()}} {
			q := newQueue(t, natsjs.ConsumerConfig{}, ints(200)...)
			var mu sync.Mutex
			var got []int
			status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.FetchBatch(16), jetstream.MaxWait(100*time.Millisecond))).
				ParMap(workers, stage.Func(func(_ context.Context, v int) (int, error) { return v, nil }), order...).
				Batch(7).
				Sink(sink.Func(func(_ context.Context, vs []int) error {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, vs...)
					return nil
				})).Run(testCtx(t))
			require.True(t, status.OK(), status.String())
			sort.Ints(got)
			want := make([]int, 200)
			for i := range want {
				want[i] = i
			}
			assert.Equal(t, want, got)
			assert.Equal(t, int64(200), status.Counts.Done)
			q.empties(t)
		}
	}
}

func TestFilteredAndFlatMappedItemsAreAcknowledged(t *testing.T) {
	q := newQueue(t, natsjs.ConsumerConfig{}, ints(60)...)
	var n int
	status := pipeline.New(jetstream.New[int](q.js, "WORK", "workers", jetstream.UntilEmpty(), jetstream.MaxWait(100*time.Millisecond))).
		Filter(func(v int) bool { return v%3 != 0 }).
		FlatMap(stage.Flat(func(_ context.Context, v int) ([]int, error) { return make([]int, v%4), nil })).
		Sink(sink.Func(func(context.Context, int) error { n++; return nil })).Run(testCtx(t))
	require.True(t, status.OK(), status.String())
	// 20 multiples of 3 filtered out, 10 multiples of 4 make no children.
	assert.Equal(t, int64(30), status.Counts.Dropped)
	assert.Equal(t, int64(30), status.Counts.Done)
	want := 0
	for v := range 60 {
		if v%3 != 0 {
			want += v % 4
		}
	}
	assert.Equal(t, want, n)
	q.empties(t)
}
