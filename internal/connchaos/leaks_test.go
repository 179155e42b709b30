package connchaos_test

import (
	"strconv"
	"strings"
	"time"

	"github.com/conveyor-go/conveyor/internal/faultkit"
)

// The suite checks for leaks itself rather than with goleak.Find, because
// the runs share a NATS server whose goroutines come and go (a consumer's,
// a client connection's, and all of them at an outage): a goroutine
// leaked by a run is one that the run started (it was not there before)
// and that is still there after, other than the server's.

// goroutine is one goroutine of a dump: its id and its stack.
type goroutine struct {
	id    int
	stack string
}

// goroutines returns every goroutine but the caller's.
func goroutines() []goroutine {
	var gs []goroutine
	for i, block := range strings.Split(faultkit.Stacks(), "\n\n") {
		if i == 0 { // the caller's
			continue
		}
		head, _, _ := strings.Cut(block, " [")
		id, err := strconv.Atoi(strings.TrimPrefix(head, "goroutine "))
		if err != nil {
			continue
		}
		gs = append(gs, goroutine{id: id, stack: block})
	}
	return gs
}

// goroutineIDs is the set of the goroutines running now.
func goroutineIDs() map[int]bool {
	ids := map[int]bool{}
	for _, g := range goroutines() {
		ids[g.id] = true
	}
	return ids
}

// leaked returns the goroutines that were not running before and that
// suspect says are the run's, waiting up to wait for them to exit.
func leaked(before map[int]bool, suspect func(stack string) bool, wait time.Duration) []goroutine {
	deadline := time.Now().Add(wait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		var out []goroutine
		for _, g := range goroutines() {
			if !before[g.id] && suspect(g.stack) {
				out = append(out, g)
			}
		}
		if len(out) == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(delay)
	}
}

// library says whether a goroutine runs code of the library (not only of
// the suite, the NATS client or a database driver): what must be gone
// once Run has returned. A goroutine blocked in a read of a plainReader is
// allowed to outlive Run (the one exception the issue allows: a read
// blocked inside an arbitrary io.Reader), until its read returns.
func library(allowPlainRead bool) func(string) bool {
	return func(stack string) bool {
		if allowPlainRead && strings.Contains(stack, "connchaos_test.plainReader.Read") {
			return false
		}
		for _, line := range strings.Split(stack, "\n") {
			if strings.Contains(line, "github.com/conveyor-go/conveyor/") && !strings.Contains(line, "/internal/connchaos") {
				return true
			}
		}
		return false
	}
}

// notServer says whether a goroutine is anything but the NATS server's:
// once a run has closed its connections, databases and pipes, nothing of
// it may be left.
func notServer(stack string) bool { return !strings.Contains(stack, "nats-io/nats-server/") }

func describeLeaks(gs []goroutine) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString("\n")
		b.WriteString(g.stack)
	}
	return b.String()
}

// runStacks is the dump of the goroutines a hung run may be stuck in:
// those of the library.
func runStacks() string {
	var b strings.Builder
	lib := library(false)
	for _, g := range goroutines() {
		if lib(g.stack) {
			b.WriteString(g.stack)
			b.WriteString("\n\n")
		}
	}
	return b.String()
}
