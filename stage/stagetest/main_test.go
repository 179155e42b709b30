package stagetest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a benchmarked pipeline leaves a goroutine
// running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
