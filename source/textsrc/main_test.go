package textsrc_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: every
// run starts its source in a goroutine of its own, and Run must wait for it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
