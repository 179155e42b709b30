package stats_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running; the
// concurrency tests below start many.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
