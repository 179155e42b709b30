package stage_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running: ParMap
// and a Batch with MaxWait start goroutines of their own, and Run must wait
// for every one of them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
