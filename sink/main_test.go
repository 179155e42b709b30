package sink_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: every
// run starts goroutines, and Run must wait for all of them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
