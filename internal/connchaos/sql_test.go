package connchaos_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/sqlsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/sqlsrc"
)

// sqlEnv is a run's tables: the inputs' table cc<seed>_src, and the sink's
// cc<seed>_out, on SQLite (a file of the run's own for each, as an ETL job
// reads one database and writes another) or on PostgreSQL, where both are
// dropped when the run ends.
type sqlEnv struct {
	r              *runState
	src, out       *sqlDB
	srcTab, outTab string
	upsert         bool  // the out table has a key and the sink upserts on it
	mainRows       int   // rows in the out table after the main run
	batch          []rec // the batch going into the sink (the sink's goroutine only)
}

type sqlDB struct {
	*sql.DB
	pg bool
}

func (r *runState) openSQL() error {
	tag := strconv.FormatUint(uint64(r.s.seed), 10)
	e := &sqlEnv{r: r, srcTab: "cc" + tag + "_src", outTab: "cc" + tag + "_out"}
	r.sql = e
	if r.s.src.kind == srcSQL {
		db, err := r.openDB(r.s.src.db, "src.db")
		if err != nil {
			return err
		}
		e.src = db
		if err := db.exec("CREATE TABLE " + e.srcTab + " (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
			return err
		}
		if n := r.s.src.n; n > 0 {
			var b strings.Builder
			b.WriteString("INSERT INTO " + e.srcTab + " (id, v) VALUES ")
			for id := range n {
				if id > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "(%d, %d)", id, id)
			}
			if err := db.exec(b.String()); err != nil {
				return err
			}
		}
	}
	if r.s.sink.kind == snkSQL {
		db, err := r.openDB(r.s.sink.db, "out.db")
		if err != nil {
			return err
		}
		e.out = db
		e.upsert = r.s.sink.upsert
		key := ""
		if e.upsert {
			key = " PRIMARY KEY"
		}
		// A row whose bad column is not 0 breaks the CHECK: the database
		// error mid-batch the fault plan injects at the sink.
		if err := db.exec("CREATE TABLE " + e.outTab + " (id INTEGER" + key + ", v INTEGER NOT NULL, bad INTEGER NOT NULL CHECK (bad = 0))"); err != nil {
			return err
		}
	}
	return nil
}

// openDB opens the database kind ("sqlite" or "postgres") of the run.
func (r *runState) openDB(kind, file string) (*sqlDB, error) {
	if kind == "postgres" && pgAvailable {
		db, err := sql.Open("pgx", os.Getenv(testdb.PostgresEnv))
		return &sqlDB{DB: db, pg: true}, err
	}
	db, err := sql.Open("sqlite", filepath.Join(r.dir, file))
	return &sqlDB{DB: db}, err
}

func (db *sqlDB) exec(stmt string) error {
	if _, err := db.Exec(stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// close drops the PostgreSQL tables and closes the databases.
func (e *sqlEnv) close() {
	if e.src != nil {
		if e.src.pg {
			_ = e.src.exec("DROP TABLE IF EXISTS " + e.srcTab) // a table left behind costs only a test database's disk
		}
		e.src.Close()
	}
	if e.out != nil {
		if e.out.pg {
			_ = e.out.exec("DROP TABLE IF EXISTS " + e.outTab)
		}
		e.out.Close()
	}
}

// source streams the inputs' rows in id order; the scan of row scanErrAt
// fails, which fails the run whatever the policy.
func (e *sqlEnv) source() *source.Of[rec] {
	r := e.r
	return sqlsrc.Query(e.src.DB, "SELECT id, v FROM "+e.srcTab+" ORDER BY id", func(rows *sql.Rows) (rec, error) {
		var v rec
		if err := rows.Scan(&v.ID, &v.V); err != nil {
			return v, err
		}
		r.observe()
		if v.ID == r.s.src.scanErrAt {
			err := &injected{pos: src0, id: v.ID, call: 1}
			r.note(failure{pos: src0, ids: []int{v.ID}, kind: fPermanent, err: err, what: "the scan of its row fails"})
			return v, err
		}
		return v, nil
	})
}

// sink inserts batches into the out table; a row the plan fails breaks
// its CHECK, so that the database fails the batch's transaction.
func (e *sqlEnv) sink() sink.Sink {
	r, sk := e.r, e.r.s.sink
	values := func(v rec) []any {
		bad := 0
		if r.connectorFault(sk.idx, sk.rate, v.ID, "a row that breaks the CHECK", e.batch) { // the batch fails whole
			bad = 1
		}
		return []any{v.ID, v.V, bad}
	}
	opts := []sqlsink.Option[rec]{sqlsink.Label(func(v rec) string { return "id" + strconv.Itoa(v.ID) })}
	if e.out.pg {
		opts = append(opts, sqlsink.Dollar[rec]())
	}
	if e.upsert {
		opts = append(opts, sqlsink.Upsert[rec]("id"))
	}
	return sqlsink.Insert(e.out.DB, e.outTab, []string{"id", "v", "bad"}, values, opts...)
}

// insertOne is the follow-up's sink: it inserts one row, or nothing when
// a keyed table has the id already.
func (e *sqlEnv) insertOne(ctx context.Context, v rec) error {
	stmt := "INSERT INTO " + e.outTab + " (id, v, bad) VALUES (?, ?, 0)"
	if e.out.pg {
		stmt = "INSERT INTO " + e.outTab + " (id, v, bad) VALUES ($1, $2, 0)"
	}
	if e.upsert {
		stmt += " ON CONFLICT (id) DO NOTHING"
	}
	_, err := e.out.ExecContext(ctx, stmt, v.ID, v.V)
	return err
}

// outIDs returns the inputs of the out table's rows, counted.
func (e *sqlEnv) outIDs() (map[int]int, int, error) {
	rows, err := e.out.Query("SELECT id FROM " + e.outTab)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	ids, n := map[int]int{}, 0
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			return nil, 0, err
		}
		ids[id]++
		n++
	}
	return ids, n, rows.Err()
}
