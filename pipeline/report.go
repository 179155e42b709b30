package pipeline

import (
	"time"

	"github.com/conveyor-go/conveyor/internal/flow"
	"github.com/conveyor-go/conveyor/stats"
)

// report reads the run's meters into a stats.Report. It is safe while the
// run goes on: the shares then cover the time so far.
func report(run *flow.Run) stats.Report {
	ms := run.Meters()
	if len(ms) == 0 {
		return stats.NewReport(run.Elapsed(), nil)
	}
	elapsed := run.Elapsed()
	rs := make([]flow.MeterReading, len(ms))
	for i, m := range ms {
		rs[i] = m.Read()
	}
	// ended returns when the input of stage i ended, or elapsed while it
	// has not.
	ended := func(i int) time.Duration {
		if i < len(rs) && rs[i].Closed > 0 {
			return rs[i].Closed
		}
		return elapsed
	}
	stages := make([]stats.StageReport, len(rs))
	for i, r := range rs {
		s := stats.StageReport{
			Index: r.Index, Name: r.Name, Role: stats.RoleStage, Workers: r.Workers,
			In: r.In, Errors: r.Errors, Skipped: r.Skipped, Retries: r.Retries,
			Latency: stats.Latency{
				Count: r.Latency.Count, Sum: r.Latency.Sum, Max: r.Latency.Max, Below: r.Latency.Below,
				P50: r.P50, P90: r.P90, P99: r.P99,
			},
		}
		var busy, idle, blocked time.Duration
		switch {
		case i == 0:
			// The source: it emits what the first stage takes, and is
			// busy whenever it is not handing items on.
			s.Role, s.Workers = stats.RoleSource, 1
			s.In, s.Out = rs[1].In, rs[1].In
			s.Wall = ended(1)
			blocked = min(rs[1].Total, s.Wall)
			busy = s.Wall - blocked
		case r.Workers > 0:
			s.Wall = r.Lifetime
			if run.Ended() == 0 || s.Wall == 0 {
				s.Wall = time.Duration(r.Workers) * elapsed // workers still running
			}
			busy, idle, blocked = r.Busy, r.Idle, r.Blocked
			s.Queue = &stats.Queue{InMean: r.QueueInMean, InMax: r.QueueInMax, OutMean: r.QueueOutMean, OutMax: r.QueueOutMax}
		default:
			s.Wall = ended(i)
			busy, blocked = r.Busy, r.Total-r.Busy
			if t := busy + blocked; t > s.Wall {
				// The sampled estimate overshot: scale it to the wall.
				busy = time.Duration(float64(busy) * float64(s.Wall) / float64(t))
				blocked = s.Wall - busy
			}
			idle = s.Wall - busy - blocked
		}
		if i > 0 {
			if i+1 < len(rs) {
				s.Out = rs[i+1].In
			} else {
				s.Role, s.Out = stats.RoleSink, r.In-r.Errors
			}
		}
		last := i + 1 // the stage whose input ends when this stage's output does
		if last == len(rs) {
			last = i
		}
		if span := ended(last); span > 0 {
			s.Rate = float64(s.Out) / span.Seconds()
		}
		s.BusyTime, s.IdleTime, s.BackpressTime = busy, idle, blocked
		if s.Wall > 0 {
			w := float64(s.Wall)
			s.Busy, s.Idle, s.Backpressured = float64(busy)/w, float64(idle)/w, float64(blocked)/w
		}
		stages[i] = s
	}
	return stats.NewReport(elapsed, stages)
}
