package sqlsrc_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running; the
// database handles are closed by each test's cleanup first.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
