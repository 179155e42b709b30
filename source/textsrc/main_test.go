package textsrc_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// jobEnv names, in the environment of a test binary that a test starts as
// a process of its own, the job in jobs it runs instead of the tests.
const jobEnv = "CONVEYOR_TEXTSRC_JOB"

// jobs are the programs the tests run in a process of their own; each
// returns the process's exit code.
var jobs = map[string]func() int{}

// TestMain runs a job when a test started the test binary to run it, and
// otherwise the tests, failing the package if one leaves a goroutine
// running: every run starts its source in a goroutine of its own, and Run
// must wait for it.
func TestMain(m *testing.M) {
	if job := jobs[os.Getenv(jobEnv)]; job != nil {
		os.Exit(job())
	}
	goleak.VerifyTestMain(m)
}
