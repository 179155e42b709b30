package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/conveyor-go/conveyor/internal/natsrun"
)

// How often the coordinator looks at the streams, how often it says how
// far the run is, and how long a worker may take to drain after SIGTERM.
const (
	pollEvery     = 20 * time.Millisecond
	progressEvery = time.Second
	drainTimeout  = 30 * time.Second
)

// runCoordinator runs the demo, prints its summary to out and returns the
// exit code: 0 if nothing was lost, 1 otherwise. SIGINT or SIGTERM stops
// the wait for the results; the workers are then stopped and what they
// did is summed up.
func runCoordinator(cfg config, out io.Writer, spawn spawner) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := coordinate(ctx, cfg, out, spawn)
	if err != nil {
		say(out, "distributed: %v", err)
		return 1
	}
	s.print(out)
	return s.code()
}

// coordinator is the state of one run of the demo.
type coordinator struct {
	cfg   config
	js    jetstream.JetStream
	out   io.Writer
	procs []*proc
	s     *summary
	start time.Time // the workers' start
}

// coordinate runs the demo: the server unless cfg.natsURL names one, the
// streams, the jobs, the workers, a kill, the wait for the results, the
// workers' drain. The error is a failure to run it at all; whether the run
// lost anything is in the summary.
func coordinate(ctx context.Context, cfg config, out io.Writer, spawn spawner) (*summary, error) {
	url := cfg.natsURL
	if url == "" {
		dir, err := os.MkdirTemp("", "conveyor-distributed-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		srv, err := natsrun.Start(dir)
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		url = srv.URL()
		say(out, "NATS server with JetStream embedded at %s, storing in %s", url, dir)
	}
	nc, err := nats.Connect(url, nats.Name("conveyor coordinator"))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", url, err)
	}
	defer nc.Close()
	// A job whose publish the server has not confirmed in 10s fails it.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := setUp(setupCtx, js, cfg, true); err != nil {
		return nil, err
	}
	say(out, "streams %s (work queue; consumer %q: AckWait %v, MaxAckPending %d) and %s (duplicates window 2m) ready",
		jobsStream, consumerName, cfg.ackWait, cfg.maxAckPending, resultsStream)

	s := &summary{run: fmt.Sprintf("%08x", rand.Uint32()), items: cfg.items}
	t := time.Now()
	if err := publishJobs(ctx, js, s.run, cfg.items); err != nil {
		return nil, err
	}
	say(out, "run %s: published %d jobs on %s in %v", s.run, cfg.items, jobSubject(s.run), time.Since(t).Round(time.Millisecond))

	c := &coordinator{cfg: cfg, js: js, out: out, s: s, start: time.Now()}
	defer c.stopWorkers() // whatever happens, no worker outlives the coordinator
	for i := 1; i <= cfg.workers; i++ {
		name := fmt.Sprintf("w%d", i)
		p, err := startProc(name, spawn(cfg.workerArgs(name, url)), out)
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, p)
		s.workers = append(s.workers, name)
	}
	if len(c.procs) > 0 {
		say(out, "started %d worker processes: %s; each runs %d jobs at a time, %v each",
			len(c.procs), c.pids(), cfg.par, cfg.work)
	}

	c.await(ctx)
	if len(c.procs) > 0 {
		say(out, "stopping the workers with SIGTERM")
	}
	s.exits = c.stopWorkers()
	return s, c.wrapUp(context.WithoutCancel(ctx))
}

// await waits until RESULTS holds a result of every job and JOBS is empty,
// killing a worker on the way; or until the timeout, a signal, or the end
// of every local worker.
func (c *coordinator) await(ctx context.Context) {
	deadline := time.NewTimer(c.cfg.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	killAt := max(1, c.cfg.items/4)
	lastSaid := time.Now()
	for {
		select {
		case <-ctx.Done():
			say(c.out, "interrupted: no longer waiting for the results")
			return
		case <-deadline.C:
			say(c.out, "timed out after %v waiting for the results", c.cfg.timeout)
			return
		case <-tick.C:
		}
		total, byWorker, err := resultCounts(ctx, c.js, c.s.run)
		if err != nil {
			if ctx.Err() == nil {
				say(c.out, "counting the results: %v", err) // try again at the next tick
			}
			continue
		}
		if c.cfg.kill && len(c.procs) >= 2 && c.s.killed == nil && total >= killAt {
			c.killOne(ctx, byWorker)
		}
		if total >= c.cfg.items {
			if left, err := jobsLeft(ctx, c.js); err == nil && left == 0 {
				c.s.elapsed, c.s.finished = time.Since(c.start), true
				say(c.out, "all %d results stored and %s empty after %v", total, jobsStream, c.s.elapsed.Round(time.Millisecond))
				return
			}
		}
		if len(c.procs) > 0 && !slices.ContainsFunc(c.procs, func(p *proc) bool { return !p.exited() }) {
			say(c.out, "every worker process has exited: no longer waiting for the results")
			return
		}
		if time.Since(lastSaid) >= progressEvery {
			lastSaid = time.Now()
			c.progress(ctx, total)
		}
	}
}

// killOne kills, with SIGKILL, the running worker that stored the most
// results, provided it stored some and jobs are delivered and not yet
// acknowledged: it is pulling jobs, so it holds some.
func (c *coordinator) killOne(ctx context.Context, byWorker map[string]int) {
	var victim *proc
	for _, p := range c.procs {
		if !p.exited() && (victim == nil || byWorker[p.name] > byWorker[victim.name]) {
			victim = p
		}
	}
	if victim == nil || byWorker[victim.name] == 0 {
		return
	}
	ci, err := consumerInfo(ctx, c.js)
	if err != nil || ci.NumAckPending == 0 {
		return // try again at the next tick
	}
	victim.signal(syscall.SIGKILL)
	c.s.killed = &killed{
		name: victim.name, pid: victim.pid(), stored: byWorker[victim.name],
		ackPending: ci.NumAckPending, pending: ci.NumPending, after: time.Since(c.start),
	}
	say(c.out, "killed %s (pid %d) with SIGKILL after %v: it had stored %d results; %d jobs were delivered "+
		"and not acknowledged (some of them its own: back after AckWait %v), %d not yet delivered",
		victim.name, victim.pid(), c.s.killed.after.Round(time.Millisecond), c.s.killed.stored,
		ci.NumAckPending, c.cfg.ackWait, ci.NumPending)
}

// progress says how far the run is.
func (c *coordinator) progress(ctx context.Context, total int) {
	ci, err := consumerInfo(ctx, c.js)
	if err != nil {
		return
	}
	say(c.out, "%d/%d results stored; %d jobs delivered and not acknowledged, %d not yet delivered",
		total, c.cfg.items, ci.NumAckPending, ci.NumPending)
}

// stopWorkers sends SIGTERM to the workers still running, waits for them
// to exit (killing one that does not drain in time) and says how each
// ended. It is safe to call again: it then only returns the exits.
func (c *coordinator) stopWorkers() []workerExit {
	for _, p := range c.procs {
		p.started(drainTimeout)
		p.signal(syscall.SIGTERM)
	}
	exits := make([]workerExit, 0, len(c.procs))
	for _, p := range c.procs {
		if !p.wait(drainTimeout) {
			say(c.out, "%s did not exit within %v of SIGTERM: killed", p.name, drainTimeout)
		}
		e := p.exit()
		e.killed = c.s.killed != nil && c.s.killed.name == p.name
		exits = append(exits, e)
	}
	return exits
}

// wrapUp reads what the run left: the consumer's state, JOBS, and the
// results.
func (c *coordinator) wrapUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ci, err := consumerInfo(ctx, c.js)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", consumerName, err)
	}
	c.s.unacked = ci.NumAckPending
	if c.s.jobsLeft, err = jobsLeft(ctx, c.js); err != nil {
		return fmt.Errorf("stream %s: %w", jobsStream, err)
	}
	total, _, err := resultCounts(ctx, c.js, c.s.run)
	if err != nil {
		return fmt.Errorf("stream %s: %w", resultsStream, err)
	}
	results, err := readResults(ctx, c.js, c.s.run, total)
	if err != nil {
		return err
	}
	c.s.add(results)
	return nil
}

// pids lists the workers as "w1 (pid 123), w2 (pid 124)".
func (c *coordinator) pids() string {
	var b strings.Builder
	for i, p := range c.procs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (pid %d)", p.name, p.pid())
	}
	return b.String()
}
