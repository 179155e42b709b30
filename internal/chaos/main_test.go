package chaos_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var (
	seedFlag    = flag.Int64("chaos.seed", 0, "base seed of the random runs; run i uses seed+i; 0 picks one from the clock")
	runsFlag    = flag.Int("chaos.runs", 500, "number of random runs (about 5s, with or without -race)")
	maxFailFlag = flag.Int("chaos.maxfail", 20, "stop after this many failing runs; 0 never stops")
	verboseFlag = flag.Bool("chaos.v", false, "log the pipeline of every run")
)

// TestMain fails the package if a test leaves a goroutine running; each
// run is also checked on its own, right after it ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
