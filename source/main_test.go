package source_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: every
// run starts the source in its own goroutine, and Run must wait for it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
