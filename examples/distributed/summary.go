package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// summary is what a run did, and whether it lost anything.
type summary struct {
	run     string
	items   int      // jobs published, ids 1..items
	workers []string // the local workers, in start order

	// From the results read back.
	byWorker    map[string]int // results stored, by the worker that stored them
	redelivered int            // results of a job delivered more than once
	redelivBy   map[string]int // those, by worker
	distinct    int            // jobs with a result
	twice       int            // jobs with more than one result
	missing     []int          // jobs without a result
	strays      int            // results of no job of the run

	// From the coordinator.
	finished bool          // every result was stored and JOBS emptied in time
	elapsed  time.Duration // from the workers' start until then
	killed   *killed       // nil: no worker was killed
	exits    []workerExit  // the local workers'
	jobsLeft uint64        // messages left in JOBS once the workers stopped
	unacked  int           // jobs delivered and not acknowledged then (given back and not yet delivered again count)
}

// killed is the worker the coordinator killed, and the state of things at
// that moment.
type killed struct {
	name       string
	pid        int
	stored     int           // results it had stored
	ackPending int           // jobs delivered to anyone and not acknowledged
	pending    uint64        // jobs not yet delivered
	after      time.Duration // since the workers' start
}

// workerExit is how a local worker process ended.
type workerExit struct {
	name   string
	code   int            // -1 if killed by a signal
	signal syscall.Signal // the signal that killed it, or 0
	killed bool           // by the coordinator, on purpose
}

func (e workerExit) String() string {
	switch {
	case e.signal == syscall.SIGKILL:
		return "killed by SIGKILL"
	case e.signal != 0:
		return "killed by signal " + e.signal.String()
	case e.code == 143:
		return "exit 143 (drained after SIGTERM)"
	default:
		return fmt.Sprintf("exit %d", e.code)
	}
}

// drained is a drained run's exit code after SIGTERM: 128 + 15.
const drained = 128 + int(syscall.SIGTERM)

// add counts the results read back from RESULTS.
func (s *summary) add(results []Result) {
	s.byWorker, s.redelivBy, s.redelivered = map[string]int{}, map[string]int{}, 0
	seen := make([]int, s.items+1)
	for _, r := range results {
		s.byWorker[r.Worker]++
		if r.Delivery > 1 {
			s.redelivered++
			s.redelivBy[r.Worker]++
		}
		if r.Run != s.run || r.JobID < 1 || r.JobID > s.items {
			s.strays++
			continue
		}
		seen[r.JobID]++
	}
	s.distinct, s.twice, s.missing = 0, 0, nil
	for id := 1; id <= s.items; id++ {
		switch {
		case seen[id] == 0:
			s.missing = append(s.missing, id)
		case seen[id] > 1:
			s.twice++
		}
		if seen[id] > 0 {
			s.distinct++
		}
	}
}

// problems lists what went wrong; none if every job has exactly one
// result and nothing was left behind.
func (s *summary) problems() []string {
	var p []string
	if !s.finished {
		p = append(p, "the run did not finish: not every result was stored, or JOBS was not emptied")
	}
	if n := len(s.missing); n > 0 {
		p = append(p, fmt.Sprintf("%d jobs have no result (ids %s)", n, firstIDs(s.missing, 10)))
	}
	if s.twice > 0 {
		p = append(p, fmt.Sprintf("%d jobs have more than one result", s.twice))
	}
	if s.strays > 0 {
		p = append(p, fmt.Sprintf("%d results are of no job of run %s", s.strays, s.run))
	}
	if s.jobsLeft > 0 {
		p = append(p, fmt.Sprintf("%s still holds %d messages", jobsStream, s.jobsLeft))
	}
	if s.unacked > 0 {
		p = append(p, fmt.Sprintf("%d jobs were delivered and not acknowledged (given back by a worker that stopped: "+
			"delivered again to the next pull; or held by one that died: delivered again after AckWait)", s.unacked))
	}
	for _, e := range s.exits {
		if !e.killed && (e.signal != 0 || e.code != drained) {
			p = append(p, fmt.Sprintf("worker %s: %v, not exit %d (drained after SIGTERM)", e.name, e, drained))
		}
	}
	return p
}

// code is the exit code of the coordinator: 0 if nothing went wrong.
func (s *summary) code() int {
	if len(s.problems()) > 0 {
		return 1
	}
	return 0
}

// print writes the summary.
func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "\n== run %s: %d jobs\n", s.run, s.items)
	var others []string // workers not started here: on other machines
	for n := range s.byWorker {
		if !slices.Contains(s.workers, n) {
			others = append(others, n)
		}
	}
	slices.Sort(others)
	names := append(slices.Clone(s.workers), others...)
	exits := map[string]workerExit{}
	for _, e := range s.exits {
		exits[e.name] = e
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "worker\tresults\tof redelivered jobs\thow it ended")
	for _, n := range names {
		end := "not started here"
		if e, ok := exits[n]; ok {
			end = e.String()
		}
		if s.killed != nil && s.killed.name == n {
			end += fmt.Sprintf(" after storing %d results", s.killed.stored)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", n, s.byWorker[n], s.redelivBy[n], end)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "redelivered: %d results are of jobs delivered more than once (Delivery > 1)", s.redelivered)
	if s.killed != nil {
		fmt.Fprintf(w, ", jobs %s held when it was killed", s.killed.name)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "results: %d distinct of %d jobs, %d missing, %d stored twice\n", s.distinct, s.items, len(s.missing), s.twice)
	fmt.Fprintf(w, "%s: %d messages left, %d delivered and unacknowledged\n", jobsStream, s.jobsLeft, s.unacked)
	if s.finished {
		fmt.Fprintf(w, "elapsed: %v from the workers' start to the last result, %.0f items/s",
			s.elapsed.Round(time.Millisecond), float64(s.items)/s.elapsed.Seconds())
		if s.killed != nil {
			fmt.Fprintf(w, " (AckWait included: the killed worker's jobs waited for it)")
		}
		fmt.Fprintln(w)
	}
	if p := s.problems(); len(p) > 0 {
		fmt.Fprintln(w, "FAILED:")
		for _, l := range p {
			fmt.Fprintln(w, "  -", l)
		}
		return
	}
	fmt.Fprintln(w, "OK: every job has exactly one result, JOBS is empty, nothing was lost")
}

// firstIDs lists up to n ids, and how many more there are.
func firstIDs(ids []int, n int) string {
	var b strings.Builder
	for i, id := range ids[:min(n, len(ids))] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, id)
	}
	if len(ids) > n {
		fmt.Fprintf(&b, " and %d more", len(ids)-n)
	}
	return b.String()
}
