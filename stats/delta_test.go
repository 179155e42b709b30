package stats_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/conveyor-go/conveyor/stats"
)

func TestDeltaAdd(t *testing.T) {
	d := make(stats.Delta)
	d.Add("a", 2)
	d.Add("a", 3)
	d.Add("b", -1)
	assert.Equal(t, stats.Delta{"a": 5, "b": -1}, d)
}

func TestDeltaAddNilPanics(t *testing.T) {
	// Documented: a Delta must be made before Add.
	var d stats.Delta
	assert.Panics(t, func() { d.Add("a", 1) })
}

func TestDeltaMerge(t *testing.T) {
	d := stats.Delta{"a": 1, "b": 2}
	d.Merge(stats.Delta{"b": 10, "c": 7})
	assert.Equal(t, stats.Delta{"a": 1, "b": 12, "c": 7}, d)

	d.Merge(nil) // nil other is a no-op
	assert.Equal(t, stats.Delta{"a": 1, "b": 12, "c": 7}, d)

	var empty stats.Delta
	assert.NotPanics(t, func() { empty.Merge(nil) })
}
