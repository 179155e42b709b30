package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/internal/natsrun"
)

// The environment of a test binary started as a worker process: the first
// variable says so, the second holds the worker's flags as a JSON array.
const (
	workerEnv     = "CONVEYOR_DISTRIBUTED_WORKER"
	workerArgsEnv = "CONVEYOR_DISTRIBUTED_ARGS"
)

// TestMain runs the worker when the tests start their own binary as a
// worker process (testSpawner, sbsSpawner), and otherwise the tests, failing the
// package if one leaves a goroutine running (the embedded server's
// included).
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(workerFromEnv())
	}
	if kind := os.Getenv(sbsWorkerEnv); kind != "" {
		os.Exit(sbsWorkerFromEnv(kind))
	}
	goleak.VerifyTestMain(m)
}

func workerFromEnv() int {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(workerArgsEnv)), &args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", workerArgsEnv, err)
		return 2
	}
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		return 2
	}
	return runWorker(cfg, os.Stdout, os.Stderr)
}

// testSpawner starts the test binary itself as a worker process.
func testSpawner(args []string) *exec.Cmd {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"=1", workerArgsEnv+"="+string(b))
	return cmd
}

// testConfig is the demo's defaults, shrunk.
func testConfig(t testing.TB) config {
	t.Helper()
	cfg, err := parseFlags([]string{"-items", "300", "-ack-wait", "2s", "-work", "5ms", "-timeout", "90s"}, os.Stderr)
	require.NoError(t, err)
	return cfg
}

// startServer starts an embedded NATS server, stopped (and waited for) at
// the end of the test.
func startServer(t testing.TB) *natsrun.Server {
	t.Helper()
	srv, err := natsrun.Start(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

// within is a timeout for the tests' own NATS calls.
const within = 30 * time.Second
