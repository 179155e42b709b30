// Package sqlsink writes a pipeline's items to an SQL table in batched,
// transactional inserts, through database/sql, so it works with any driver:
// modernc.org/sqlite, github.com/jackc/pgx/v5/stdlib, ...
//
// The sink takes batches: put a Batch stage before it, and each batch is
// written in one transaction, all or nothing.
//
//	p.Batch(500).Sink(sqlsink.Insert(db, "orders", []string{"id", "total"},
//		func(o Order) []any { return []any{o.ID, o.Total} },
//		sqlsink.Upsert[Order]("id")))
//
// A batch that fails is rolled back and fails as one item under the
// pipeline's error policy, with an error naming the table and the labels
// of the batch's items: under stage.Skip or a dead-letter policy
// (stage.DeadLetter, textsink.DeadLetters) the run goes on without it, and
// its source items are counted skipped or dead-lettered, never done.
//
// Receipts and crashes. A batch's items settle, and a queue's messages are
// acknowledged, as soon as its transaction has committed, while the run
// goes on. A crash after a commit and before the acknowledgements reach
// the queue makes the queue deliver the batch again: with Upsert on the
// table's key it is stored once and the run goes on; without, the
// batch fails whole on the key. A batch not yet committed at the crash is
// rolled back by the database and delivered again.
package sqlsink

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/conveyor-go/conveyor/sink"
)

// Option configures Insert. Options are made by the functions of this
// package: Dollar, Label, Upsert.
type Option[T any] interface{ apply(*config[T]) }

type optionFunc[T any] func(*config[T])

func (f optionFunc[T]) apply(c *config[T]) { f(c) }

type config[T any] struct {
	dollar  bool
	label   func(T) string
	key     []string // Upsert's key columns, or none
	invalid string
}

// Dollar numbers the placeholders $1, $2, ... as PostgreSQL wants; the
// default is ?, as SQLite and MySQL want.
func Dollar[T any]() Option[T] { return optionFunc[T](func(c *config[T]) { c.dollar = true }) }

// Label names items in errors; the default names them by their position in
// the stream, "#n".
func Label[T any](f func(T) string) Option[T] {
	return optionFunc[T](func(c *config[T]) { c.label = f })
}

// Upsert makes Insert an upsert on the key columns, which must be among
// Insert's columns and carry a unique index or primary key: a row whose
// key is already in the table has its other columns set to the new values
// (INSERT ... ON CONFLICT (key) DO UPDATE SET c = excluded.c, ..., or DO
// NOTHING when every column is a key column), as SQLite (3.24 and later)
// and PostgreSQL read it. So a batch delivered again after a crash, or a
// job run twice, stores each row once and does not fail.
//
// Within one batch a key should appear once: SQLite keeps the last of its
// rows, PostgreSQL fails the batch ("ON CONFLICT DO UPDATE command cannot
// affect row a second time"). An Upsert with no key column, or one that is
// not among the columns, makes the sink invalid.
func Upsert[T any](key ...string) Option[T] {
	key = append([]string(nil), key...)
	return optionFunc[T](func(c *config[T]) {
		if len(key) == 0 {
			c.invalid = "upsert with no key column"
		}
		c.key = key
	})
}

// maxParams bounds the placeholders of one statement: SQLite allows 32766
// and PostgreSQL 65535. A larger batch takes several statements, in the
// same transaction.
const maxParams = 30000

// Insert makes a sink that inserts each batch of items into table, with
// values(item) giving the values of columns for the item, in one
// transaction per batch.
func Insert[T any](db *sql.DB, table string, columns []string, values func(T) []any, opts ...Option[T]) *sink.Of[[]T] {
	var cfg config[T]
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if k := notAmong(cfg.key, columns); k != "" {
		cfg.invalid = fmt.Sprintf("upsert key %q is not one of the columns", k)
	}
	switch {
	case db == nil:
		return sink.Invalid[[]T]("sql-insert", "nil *sql.DB")
	case table == "":
		return sink.Invalid[[]T]("sql-insert", "empty table name")
	case len(columns) == 0:
		return sink.Invalid[[]T]("sql-insert", "no columns")
	case values == nil:
		return sink.Invalid[[]T]("sql-insert", "nil values function")
	case cfg.invalid != "":
		return sink.Invalid[[]T]("sql-insert", cfg.invalid)
	}
	w := &inserter[T]{db: db, table: table, columns: columns, values: values, cfg: cfg}
	return sink.New("sql-insert", func(context.Context) (sink.Writer[[]T], error) {
		return &run[T]{inserter: w}, nil
	})
}

// inserter is an Insert sink's configuration.
type inserter[T any] struct {
	db      *sql.DB
	table   string
	columns []string
	values  func(T) []any
	cfg     config[T]
}

var _ sink.Durable = (*run[int])(nil)

// run is one run of an Insert sink: it counts the items it was given, to
// label them.
type run[T any] struct {
	*inserter[T]
	seen int
}

func (r *run[T]) Write(ctx context.Context, batch []T) error {
	first := r.seen
	r.seen += len(batch)
	if len(batch) == 0 {
		return nil
	}
	if err := r.insert(ctx, batch); err != nil {
		return &BatchError{Table: r.table, Labels: r.labels(batch, first), Err: err}
	}
	return nil
}

// Durable says that a batch is stored for good once Write returns nil:
// its transaction has committed, so the sink settles its receipts then.
func (r *run[T]) Durable() bool { return true }

// Commit and Abort have nothing to do: each batch committed on its own.
func (r *run[T]) Commit(context.Context) error { return nil }
func (r *run[T]) Abort() error                 { return nil }

// insert writes batch in one transaction, rolled back on any error.
//
// The transaction itself is not bound to ctx: database/sql would roll it
// back when ctx is cancelled, and a cancellation that reaches the COMMIT
// while the server has committed (its answer on its way) would leave the
// rows stored and their items counted abandoned, so that a queue delivers
// them again. The statements run under ctx, and a batch whose run was
// cancelled before its COMMIT went out is rolled back; a COMMIT sent is
// waited for, so that the batch ends stored and done, or not stored.
func (r *run[T]) insert(ctx context.Context, batch []T) (err error) {
	tx, err := r.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		// Rolled back on an error and on a panic in values alike: the
		// transaction is not bound to ctx, so nothing else would end it.
		if !committed {
			_ = tx.Rollback() // the error that made us roll back is the one to report
		}
	}()
	per := max(1, maxParams/len(r.columns))
	for len(batch) > 0 {
		n := min(per, len(batch))
		args := make([]any, 0, n*len(r.columns))
		for i, v := range batch[:n] {
			vals := r.values(v)
			if len(vals) != len(r.columns) {
				return fmt.Errorf("item %d of the batch gives %d values for %d columns", i, len(vals), len(r.columns))
			}
			args = append(args, vals...)
		}
		if _, err := tx.ExecContext(ctx, r.statement(n), args...); err != nil {
			return err
		}
		batch = batch[n:]
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	committed = true // by Commit, or rolled back by it on failure
	return tx.Commit()
}

// statement is the INSERT of rows rows.
func (r *run[T]) statement(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quote(r.table))
	b.WriteString(" (")
	for i, c := range r.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(c))
	}
	b.WriteString(") VALUES ")
	p := 0
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range r.columns {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			if r.cfg.dollar {
				b.WriteString("$" + strconv.Itoa(p))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	r.onConflict(&b)
	return b.String()
}

// onConflict writes Upsert's ON CONFLICT clause, if any.
func (r *run[T]) onConflict(b *strings.Builder) {
	if len(r.cfg.key) == 0 {
		return
	}
	b.WriteString(" ON CONFLICT (")
	for i, k := range r.cfg.key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(k))
	}
	b.WriteString(") DO ")
	set := 0
	for _, c := range r.columns {
		if slices.Contains(r.cfg.key, c) {
			continue
		}
		if set == 0 {
			b.WriteString("UPDATE SET ")
		} else {
			b.WriteString(", ")
		}
		set++
		b.WriteString(quote(c) + " = excluded." + quote(c))
	}
	if set == 0 {
		b.WriteString("NOTHING")
	}
}

// notAmong returns the first of names that is not among columns, or "".
func notAmong(names, columns []string) string {
	for _, n := range names {
		if !slices.Contains(columns, n) {
			return n
		}
	}
	return ""
}

// quote makes name an SQL identifier, as SQLite and PostgreSQL read it:
// in double quotes, with any double quote doubled. A dotted name
// (schema.table) is quoted part by part.
func quote(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

// labels names the items of a batch whose first item was the first-th.
func (r *run[T]) labels(batch []T, first int) []string {
	out := make([]string, len(batch))
	for i, v := range batch {
		if r.cfg.label != nil {
			out[i] = r.cfg.label(v)
		} else {
			out[i] = "#" + strconv.Itoa(first+i)
		}
	}
	return out
}

// BatchError is a batch that could not be inserted, and was rolled back.
type BatchError struct {
	Table  string
	Labels []string // the batch's items
	Err    error
}

func (e *BatchError) Error() string {
	what := "item " + e.Labels[0]
	if n := len(e.Labels); n > 1 {
		what = fmt.Sprintf("batch of %d items (%s ... %s)", n, e.Labels[0], e.Labels[n-1])
	}
	return fmt.Sprintf("insert into %s: %s rolled back: %v", e.Table, what, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }
