package jetstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine running: the
// sink's confirm goroutine, the NATS connection's and the embedded server's
// must all be gone once each test has closed its connection and stopped its
// server.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
