package stats

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as a table, one row per stage, and the
// verdict below it.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tworkers\tin\tout\titems/s\tp50\tp90\tp99\tmax\tbusy\tidle\tbackpr.\terrors\tqueue\t")
	for _, s := range r.Stages {
		workers := "-"
		if s.Workers > 0 {
			workers = strconv.Itoa(s.Workers)
		}
		queue := "-"
		if s.Queue != nil {
			queue = fmt.Sprintf("%.0f/%.0f", s.Queue.InMean, s.Queue.OutMean)
		}
		fmt.Fprintf(tw, "%d %s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n",
			s.Index, s.Name, workers, s.In, s.Out, rate(s.Rate),
			latency(s.Latency.Count, s.Latency.P50), latency(s.Latency.Count, s.Latency.P90),
			latency(s.Latency.Count, s.Latency.P99), latency(s.Latency.Count, s.Latency.Max),
			share(s.Busy), share(s.Idle), share(s.Backpressured), s.Errors, queue)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s\n", r.Verdict.Text)
	return err
}

func share(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func latency(n uint64, d time.Duration) string {
	if n == 0 {
		return "-"
	}
	return d.Round(significant(d)).String()
}

// significant is the rounding that keeps three digits of d.
func significant(d time.Duration) time.Duration {
	r := time.Duration(1)
	for d >= 1000*r {
		r *= 10
	}
	return r
}

func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	default:
		return fmt.Sprintf("%.0f", r)
	}
}
