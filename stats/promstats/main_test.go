package promstats_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: the
// scrape tests start an HTTP server and client.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
