// Command distributed spreads one job over several worker processes, on one
// machine or many, through a NATS JetStream work queue, and shows that
// killing a worker loses nothing.
//
// By default it runs the whole demo on this machine:
//
//  1. it starts a NATS server with JetStream inside its own process, storing
//     in a temporary directory (removed at the end);
//  2. it creates the work-queue stream JOBS (subjects jobs.>) with the
//     durable pull consumer "workers" (explicit acks, AckWait -ack-wait,
//     MaxAckPending -max-ack-pending, unlimited deliveries), and the stream
//     RESULTS (subjects results.>, a 2-minute duplicates window);
//  3. it publishes -items jobs, {"id": n}, on jobs.<run>, where <run> is an
//     id drawn for this run;
//  4. it starts -workers worker processes, this same binary with -worker.
//     Each runs a pipeline: the jobs of the consumer (source/jetstream) ->
//     ParMap(-par) of a handler that sleeps -work (an I/O-bound call) ->
//     results published to RESULTS (sink/jetstream) on
//     results.<run>.<worker>, with the Nats-Msg-Id <run>/<job id>. A job is
//     acknowledged only once its result is stored;
//  5. once a quarter of the results are stored, it kills the worker that
//     stored the most with SIGKILL: the jobs it held unacknowledged come back
//     to the others after AckWait, and a result it stored but did not get
//     to acknowledge, published again by the worker that gets its job next,
//     is stored once thanks to the Msg-Id;
//  6. once RESULTS holds a result of every job and JOBS is empty, it sends
//     SIGTERM to the other workers, which drain (stop fetching, finish and
//     acknowledge what they hold) and exit with 143 (128 + SIGTERM);
//  7. it reads the results back and prints who did what, how many jobs were
//     delivered more than once, whether any job is missing or stored twice,
//     and the rate. It exits with 0 if every job has exactly one result,
//     JOBS is empty, nothing is left unacknowledged and the surviving
//     workers drained; 1 otherwise.
//
// For instance:
//
//	go run ./examples/distributed                    # 2000 jobs, 3 workers, one killed
//	go run ./examples/distributed -items 20000 -workers 4 -work 1ms
//	go run ./examples/distributed -kill=false        # nobody dies
//
// The coordinator (the command without -worker) takes:
//
//	-nats URL          an existing NATS server with JetStream (default: one
//	                   embedded in this process, on 127.0.0.1)
//	-items N           jobs to publish, default 2000
//	-workers N         worker processes to start here, default 3 (0 needs -nats)
//	-kill              kill one of them with SIGKILL mid-run, default true
//	                   (-kill=false to let them be; needs -workers 2 or more)
//	-timeout D         how long to wait for all the results, default 2m
//	-ack-wait D        the consumer's AckWait, default 5s
//	-max-ack-pending N the consumer's MaxAckPending, default 512
//	-par, -work, -fetch
//	                   passed on to the workers it starts (see below)
//
// # Workers on several machines
//
// The embedded server listens on 127.0.0.1 only. To spread the work over
// machines, run a NATS server with JetStream that they all reach, on one of
// them (nats-server -js, or any NATS cluster), say at nats://host:4222.
// Then, on each machine that should work (as many times as you want worker
// processes; stop each with Ctrl-C or SIGTERM, which drains it):
//
//	go run ./examples/distributed -worker -nats nats://host:4222 -name w-$(hostname)-1
//
// A worker takes these flags (and ignores the others):
//
//	-worker            run as a worker, until SIGINT or SIGTERM
//	-nats URL          the NATS server (required with -worker)
//	-name NAME         its name in results and logs; letters, digits, - and _
//	                   (default: w-<hostname>-<pid>)
//	-par N             jobs in progress at a time (ParMap workers), default 8
//	-work D            how long a job takes, default 2ms
//	-fetch N           messages asked for ahead of the pipeline (sourcejs.FetchBatch),
//	                   default 128: fewer than the library's 500, so that slow
//	                   jobs spread over the workers; with fewer, no-op jobs
//	                   move slower (three workers: 30,000 jobs/s at 32,
//	                   38,000 at 128)
//	-ack-wait D, -max-ack-pending N
//	                   the consumer's settings, used only if the worker is the
//	                   first and creates the streams and the consumer
//
// and, from any machine, publish the jobs and wait for their results,
// starting no local worker (-workers 0) or a few more:
//
//	go run ./examples/distributed -nats nats://host:4222 -workers 0 -items 100000
//
// With -nats the coordinator creates the streams and the consumer if they
// are missing, and otherwise updates the consumer to -ack-wait and
// -max-ack-pending. Each run publishes on a subject of its own, so runs on
// the same server, even within the duplicates window, do not mix. The
// coordinator kills one of its own workers only if it started two or more,
// and stops only the workers it started: the others wait for more jobs.
//
// Worker processes are Unix processes: signals (SIGTERM, SIGKILL) are how
// the coordinator stops them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	if cfg.worker {
		os.Exit(runWorker(cfg, os.Stdout, os.Stderr))
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "distributed: the path of this binary, to start workers:", err)
		os.Exit(1)
	}
	os.Exit(runCoordinator(cfg, os.Stdout, func(args []string) *exec.Cmd { return exec.Command(exe, args...) }))
}

// config holds the flags of both roles.
type config struct {
	// Both roles.
	natsURL       string        // "": an embedded server (the coordinator only)
	work          time.Duration // per job
	par           int           // ParMap workers per process
	fetch         int           // messages asked for ahead (FetchBatch)
	ackWait       time.Duration // the consumer's
	maxAckPending int           // the consumer's

	// The coordinator.
	items   int
	workers int
	kill    bool
	timeout time.Duration

	// A worker.
	worker bool
	name   string
}

// parseFlags parses args, writing usage and errors to errOut.
func parseFlags(args []string, errOut io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("distributed", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&c.natsURL, "nats", "", "URL of an existing NATS server with JetStream (default: start one inside this process)")
	fs.DurationVar(&c.work, "work", 2*time.Millisecond, "how long a job takes (a sleep: an I/O-bound call)")
	fs.IntVar(&c.par, "par", 8, "jobs in progress at a time in each worker process (ParMap workers)")
	fs.IntVar(&c.fetch, "fetch", 128, "messages asked for ahead of the pipeline")
	fs.DurationVar(&c.ackWait, "ack-wait", 5*time.Second, "the consumer's AckWait: how soon the jobs of a dead worker are delivered again")
	fs.IntVar(&c.maxAckPending, "max-ack-pending", 512, "the consumer's MaxAckPending: jobs all workers may hold unacknowledged")
	fs.IntVar(&c.items, "items", 2000, "jobs to publish")
	fs.IntVar(&c.workers, "workers", 3, "worker processes to start on this machine")
	fs.BoolVar(&c.kill, "kill", true, "kill a worker with SIGKILL once a quarter of the results are stored")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "how long to wait for all the results")
	fs.BoolVar(&c.worker, "worker", false, "run as a worker process, until SIGINT or SIGTERM (needs -nats)")
	fs.StringVar(&c.name, "name", defaultName(), "the worker's name, in its results and logs")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fail := func(format string, a ...any) (config, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(errOut, "distributed:", err)
		fs.Usage()
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected arguments %q", fs.Args())
	case c.work < 0:
		return fail("-work must be >= 0, got %v", c.work)
	case c.par < 1:
		return fail("-par must be >= 1, got %d", c.par)
	case c.fetch < 1:
		return fail("-fetch must be >= 1, got %d", c.fetch)
	case c.ackWait < time.Second:
		return fail("-ack-wait must be >= 1s, got %v", c.ackWait)
	case c.maxAckPending < 1:
		return fail("-max-ack-pending must be >= 1, got %d", c.maxAckPending)
	case c.worker && c.natsURL == "":
		return fail("-worker needs -nats: the embedded server lives in the coordinator's process")
	case c.worker && !validName.MatchString(c.name):
		return fail("-name %q: use letters, digits, - and _ (it is a token of a NATS subject)", c.name)
	case !c.worker && c.items < 1:
		return fail("-items must be >= 1, got %d", c.items)
	case !c.worker && c.workers < 0:
		return fail("-workers must be >= 0, got %d", c.workers)
	case !c.worker && c.workers == 0 && c.natsURL == "":
		return fail("-workers 0 needs -nats: with the embedded server, only local workers can reach it")
	case !c.worker && c.timeout <= 0:
		return fail("-timeout must be > 0, got %v", c.timeout)
	}
	return c, nil
}

// validName is what a worker's name may be: a token of a subject.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// defaultName is w-<hostname>-<pid>, with what a subject token cannot hold
// replaced.
func defaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	host = strings.Map(func(r rune) rune {
		if r < 128 && validName.MatchString(string(r)) {
			return r
		}
		return '-'
	}, host)
	return "w-" + host + "-" + strconv.Itoa(os.Getpid())
}

// workerArgs are the flags of a worker process named name started by the
// coordinator, which has the server at url.
func (c config) workerArgs(name, url string) []string {
	return []string{
		"-worker", "-name", name, "-nats", url,
		"-par", strconv.Itoa(c.par), "-work", c.work.String(), "-fetch", strconv.Itoa(c.fetch),
		"-ack-wait", c.ackWait.String(), "-max-ack-pending", strconv.Itoa(c.maxAckPending),
	}
}
