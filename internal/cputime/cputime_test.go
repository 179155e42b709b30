//go:build unix

package cputime_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/conveyor-go/conveyor/internal/cputime"
)

func TestProcessGrowsWithWork(t *testing.T) {
	before := cputime.Process()
	assert.Positive(t, before)
	x := 0
	for i := range 50_000_000 {
		x ^= i * i
	}
	assert.NotZero(t, x|1)
	assert.Greater(t, cputime.Process(), before, "the loop spent CPU time")
}
