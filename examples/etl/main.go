// Command etl runs three ETL jobs over a CSV of orders, built from stage
// values they share:
//
//   - clean: CSV -> lineage -> decode-csv -> validate -> dedup -> enrich
//     (ParMap) -> orders.jsonl. Rows that do not decode or validate go to
//     rejects.jsonl (textsink.DeadLetters) with their "file:line", and the
//     run goes on, within its failure budget (cleanBudget); orders sent
//     twice are dropped.
//   - load: orders.jsonl -> decode-json -> validate -> batch -> the orders
//     table of orders.db (SQLite), one transaction per batch.
//   - summarize: orders.jsonl -> decode-json -> validate -> enrich ->
//     by-country (Reduce) -> rows (FlatMap) -> summary.csv.
//
// validate is the same stage value in all three, enrich in clean and
// summarize, and decode-json in the last two: each job is a pipeline of its
// own, with its own error policy. clean dead-letters bad rows; load and
// summarize read what clean wrote and fail fast, since a bad row there is a
// bug, not bad input.
//
// load is a job of its own rather than a second output of clean: a
// pipeline has one sink, and reading back what clean committed means the
// table never gets orders from a clean run that failed, while the inserts
// go in batched transactions through sqlsink, measured on their own.
//
// The input is generated on the first run into -dir, deterministically from
// -seed: -rows orders, of which 1 in 10,000 is bad (in turn: a quantity
// that is not a number, a malformed CSV row, a zero quantity, a negative
// price, an unknown country) and 1 in 10,000 repeats the row before it.
//
// For each job it prints the per-stage report, the exit status, the rows
// in, out, dropped and rejected, the wall time, the rate and the peak heap.
//
//	go run ./examples/etl                 # 1,000,000 rows in $TMPDIR/etl-data
//	go run ./examples/etl -rows 100000 -dir /tmp/etl -workers 2
//	go run ./examples/etl -quiet          # no report tables
//
// Ctrl-C drains the running job (the outputs written so far are committed)
// and runs no more; a second Ctrl-C stops it at once.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/conveyor-go/conveyor/internal/heappeak"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/textsink"
)

func main() {
	cfg := config{every: 10_000}
	flag.IntVar(&cfg.rows, "rows", 1_000_000, "rows of the generated orders CSV")
	flag.StringVar(&cfg.dir, "dir", filepath.Join(os.TempDir(), "etl-data"), "directory of the input and outputs")
	flag.IntVar(&cfg.workers, "workers", 4, "enrich workers")
	flag.IntVar(&cfg.batch, "batch", 500, "rows per insert transaction")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the generated orders")
	flag.BoolVar(&cfg.quiet, "quiet", false, "print no report tables, log only warnings and errors")
	flag.Parse()

	logger := newLogger(cfg.quiet)
	defer func() { _ = logger.Sync() }()
	cfg.logger = logger
	cfg.signals = true

	results, err := run(context.Background(), cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etl:", err)
		os.Exit(1)
	}
	for _, r := range results {
		if !r.status.OK() {
			os.Exit(r.status.Code)
		}
	}
}

type config struct {
	rows    int
	every   int // one bad row, and one repeated row, in every this many
	seed    uint64
	dir     string
	workers int
	batch   int
	quiet   bool
	signals bool        // drain on SIGINT and SIGTERM
	logger  *zap.Logger // nil: none
}

// paths are the job's files, in cfg.dir.
type paths struct{ input, clean, rejects, db, summary string }

func (c config) paths() paths {
	in := fmt.Sprintf("orders-%drows-seed%d.csv", c.rows, c.seed)
	if c.every != 10_000 {
		in = fmt.Sprintf("orders-%drows-seed%d-every%d.csv", c.rows, c.seed, c.every)
	}
	p := paths{input: in, clean: "orders.jsonl", rejects: "rejects.jsonl", db: "orders.db", summary: "summary.csv"}
	for _, f := range []*string{&p.input, &p.clean, &p.rejects, &p.db, &p.summary} {
		*f = filepath.Join(c.dir, *f)
	}
	return p
}

// result is how one job went.
type result struct {
	name   string
	status pipeline.ExitStatus
	// The peak bytes of heap objects (live or not yet swept) and of the
	// heap the garbage collector last found live, sampled every
	// millisecond while the job ran.
	peakHeap, peakLive uint64
}

// run generates the input if it is absent, then runs the jobs in turn,
// writing what they did to w, until one fails. It returns the results of
// the jobs it ran; an error is a failure outside the jobs (creating the
// directory, the input, the rejects file or the database).
func run(ctx context.Context, cfg config, w io.Writer) ([]result, error) {
	p := cfg.paths()
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(p.input); errors.Is(err, fs.ErrNotExist) {
		start := time.Now()
		if err := generate(p.input, cfg.rows, cfg.every, cfg.seed); err != nil {
			return nil, fmt.Errorf("generate %s: %w", p.input, err)
		}
		fmt.Fprintf(w, "generated %s: %d rows in %.2fs\n", p.input, cfg.rows, time.Since(start).Seconds())
	} else if err != nil {
		return nil, err
	}

	opts := []pipeline.Option{pipeline.WithLogger(cfg.logger)}
	if !cfg.quiet {
		opts = append(opts, pipeline.WithReport(w))
	}
	if cfg.signals {
		opts = append(opts, pipeline.WithSignals())
	}
	s := newStages(cfg.workers)
	var results []result

	// clean
	rejects, err := os.Create(p.rejects)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\n== clean: %s -> %s, bad rows to %s\n", p.input, p.clean, p.rejects)
	r := measure("clean", func() pipeline.ExitStatus {
		o := append(opts[:len(opts):len(opts)], pipeline.OnError(textsink.DeadLetters(rejects)), cleanBudget)
		return s.cleanJob(p.input, p.clean, o...).Run(ctx)
	})
	if err := rejects.Close(); err != nil {
		return nil, err
	}
	results = append(results, r)
	r.print(w, "")
	if !r.status.OK() {
		return results, nil
	}

	// load
	db, err := openDB(p.db)
	if err != nil {
		return results, err
	}
	defer db.Close()
	fmt.Fprintf(w, "\n== load: %s -> table %s of %s, %d rows a transaction\n", p.clean, ordersTable, p.db, cfg.batch)
	r = measure("load", func() pipeline.ExitStatus { return s.loadJob(p.clean, db, cfg.batch, opts...).Run(ctx) })
	results = append(results, r)
	var rows, cents int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(total_cents), 0) FROM "+ordersTable).Scan(&rows, &cents); err != nil {
		return results, err
	}
	r.print(w, fmt.Sprintf("the table holds %d orders, %s in all", rows, Cents(cents)))
	if !r.status.OK() {
		return results, nil
	}
	if err := db.Close(); err != nil {
		return results, err
	}

	// summarize
	fmt.Fprintf(w, "\n== summarize: %s -> %s\n", p.clean, p.summary)
	r = measure("summarize", func() pipeline.ExitStatus { return s.summarizeJob(p.clean, p.summary, opts...).Run(ctx) })
	results = append(results, r)
	note := ""
	if st := r.status.Report.Stages; len(st) > 0 && r.status.OK() {
		note = fmt.Sprintf("%d countries in %s", st[len(st)-1].In, p.summary)
	}
	r.print(w, note)
	return results, nil
}

// cleanBudget is the clean job's failure budget: a few bad rows are the
// input's, and go to rejects.jsonl; more than 1% of them, or 100 in a row,
// and the input is broken (another format, a truncated export), and the
// job stops rather than write what little it could read.
var cleanBudget = pipeline.FailureBudget(pipeline.MaxFailureRate(0.01, 1000), pipeline.MaxFailuresInARow(100))

// openDB opens the SQLite database at path with an empty orders table.
// SQLite has one writer at a time: one connection serves the inserts, and
// the write-ahead log with synchronous=NORMAL makes each commit cheap while
// keeping the database consistent.
func openDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	for _, stmt := range []string{"DROP TABLE IF EXISTS " + ordersTable, ordersDDL} {
		if _, err := db.Exec(stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return db, nil
}

// measure runs job, sampling the heap while it runs.
func measure(name string, job func() pipeline.ExitStatus) result {
	runtime.GC() // so that the garbage of what ran before does not count
	stop := heappeak.Start()
	st := job()
	heap, live := stop()
	return result{name: name, status: st, peakHeap: heap, peakLive: live}
}

// print writes the job's exit status and a line of figures, then note.
func (r result) print(w io.Writer, note string) {
	st := r.status
	c := st.Counts
	fmt.Fprintln(w, st)
	secs := st.Duration.Seconds()
	fmt.Fprintf(w, "%s: %d rows in, %d out, %d dropped, %d rejected; %.2fs, %.0f rows/s; peak heap %.1f MiB, peak live heap %.1f MiB\n",
		r.name, c.In, c.Done, c.Dropped, c.Skipped+c.DeadLettered, secs, float64(c.In)/max(secs, 1e-9),
		float64(r.peakHeap)/(1<<20), float64(r.peakLive)/(1<<20))
	if note != "" {
		fmt.Fprintf(w, "%s: %s\n", r.name, note)
	}
}

func newLogger(quiet bool) *zap.Logger {
	c := zap.NewDevelopmentConfig()
	c.DisableStacktrace = true
	c.EncoderConfig.EncodeCaller = nil
	c.EncoderConfig.CallerKey = ""
	// Info, not the development default Debug: at Debug, ParMap logs a
	// line for every item it finishes.
	c.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	if quiet {
		c.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	}
	l, err := c.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}
