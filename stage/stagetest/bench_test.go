package stagetest_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/stage"
	"github.com/conveyor-go/conveyor/stage/stagetest"
)

func ints(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

func TestBenchmarkReportsWhatAnItemCosts(t *testing.T) {
	double := stage.Map(func(_ context.Context, v int) (int, error) { return 2 * v, nil })
	res := testing.Benchmark(func(b *testing.B) { stagetest.Benchmark(b, double, ints(1000)) })

	require.Positive(t, res.N, "the benchmark ran")
	perItem, rate := res.Extra["ns/item"], res.Extra["items/s"]
	require.Positive(t, perItem)
	require.Positive(t, rate)
	assert.InDelta(t, 1e9/perItem, rate, rate*1e-6, "items/s is the inverse of ns/item")
	assert.Less(t, perItem*1000, float64(res.T.Nanoseconds())/float64(res.N)*1.01,
		"1000 items cost no more than the run that holds them")
	assert.Contains(t, res.Extra, "allocs/item")
	assert.Less(t, res.Extra["allocs/item"], 0.5, "a Map over ints allocates nothing per item, only per run")
}

func TestBenchmarkCountsTheStagesAllocations(t *testing.T) {
	itoa := stage.Map(func(_ context.Context, v int) (string, error) { return "n" + strconv.Itoa(v+1000), nil })
	res := testing.Benchmark(func(b *testing.B) { stagetest.Benchmark(b, itoa, ints(1000)) })
	require.Positive(t, res.N)
	assert.GreaterOrEqual(t, res.Extra["allocs/item"], 1.0, "each item makes a new string")
}

func TestBenchmarkTakesASubChain(t *testing.T) {
	parse := stage.Map(func(_ context.Context, s string) (int, error) { return strconv.Atoi(s) })
	square := stage.ParMap(2, stage.Func(func(_ context.Context, v int) (int, error) { return v * v, nil }))
	lines := []string{"1", "2", "3", "4"}
	res := testing.Benchmark(func(b *testing.B) { stagetest.Benchmark(b, stage.Chain(parse, square), lines) })
	require.Positive(t, res.N)
	assert.Positive(t, res.Extra["ns/item"])
}

func TestBenchmarkFailsWhenTheRunFails(t *testing.T) {
	boom := stage.Map(func(_ context.Context, v int) (int, error) {
		if v == 3 {
			return 0, errors.New("boom")
		}
		return v, nil
	})
	for name, run := range map[string]func(b *testing.B){
		"an item fails":    func(b *testing.B) { stagetest.Benchmark(b, boom, ints(10)) },
		"an invalid stage": func(b *testing.B) { stagetest.Benchmark(b, stage.Batch[int](0), ints(10)) },
		"no items":         func(b *testing.B) { stagetest.Benchmark(b, boom, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			res := testing.Benchmark(run)
			assert.Zero(t, res.N, "a failed benchmark reports no result")
		})
	}
}
