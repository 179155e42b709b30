package connchaos_test

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/conveyor-go/conveyor/internal/natsrun"
)

var (
	seedFlag    = flag.Int64("connchaos.seed", 0, "base seed of the random runs; run i uses seed+i; 0 picks one from the clock")
	runsFlag    = flag.Int("connchaos.runs", 60, "number of random runs (about 10-20s, with or without -race)")
	maxFailFlag = flag.Int("connchaos.maxfail", 10, "stop after this many failing runs; 0 never stops")
	verboseFlag = flag.Bool("connchaos.v", false, "log the pipeline and the measurements of every run")
)

// natsSrv is the embedded NATS server every run shares, started by the
// first run that needs it and stopped by TestMain. A run with an outage
// stops it and starts it again on the same port and store, so it is
// replaced then: only the goroutine of the run in progress touches it.
var natsSrv struct {
	once sync.Once
	dir  string
	port int
	srv  *natsrun.Server
	err  error
}

// server returns the shared server, starting it on first use.
func server() (*natsrun.Server, error) {
	natsSrv.once.Do(func() {
		natsSrv.dir, natsSrv.err = os.MkdirTemp("", "connchaos-nats-")
		if natsSrv.err != nil {
			return
		}
		natsSrv.srv, natsSrv.err = natsrun.Start(natsSrv.dir)
		if natsSrv.err == nil {
			natsSrv.port = natsSrv.srv.Port()
		}
	})
	return natsSrv.srv, natsSrv.err
}

// TestMain stops the shared server once the tests are done, then fails
// the package if a test left a goroutine running; each run is also checked
// on its own, right after it ends (see leaks_test.go).
func TestMain(m *testing.M) {
	code := m.Run()
	if natsSrv.srv != nil {
		natsSrv.srv.Stop()
	}
	if natsSrv.dir != "" {
		_ = os.RemoveAll(natsSrv.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
