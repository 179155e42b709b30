// Package sqlsrc streams the rows of an SQL query into a pipeline, through
// database/sql, so it works with any driver: modernc.org/sqlite,
// github.com/jackc/pgx/v5/stdlib, ...
//
//	src := sqlsrc.Query(db, "SELECT id, total FROM orders WHERE day = ?",
//		func(rows *sql.Rows) (Order, error) {
//			var o Order
//			err := rows.Scan(&o.ID, &o.Total)
//			return o, err
//		}, day)
//
// Rows are read one at a time as the pipeline takes them, so memory stays
// bounded whatever the size of the result.
package sqlsrc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/conveyor-go/conveyor/source"
)

// Query makes a source of the rows of query, run with args on db when the
// run starts, each turned into a T by scan. The rows are closed when the
// source ends, however it ends. An error running the query, scanning row n
// (counting from 1) or reading the rows fails the run and says which.
func Query[T any](db *sql.DB, query string, scan func(*sql.Rows) (T, error), args ...any) *source.Of[T] {
	switch {
	case db == nil:
		return source.Invalid[T]("sql", "nil *sql.DB")
	case query == "":
		return source.Invalid[T]("sql", "empty query")
	case scan == nil:
		return source.Invalid[T]("sql", "nil scan function")
	}
	return source.Func(func(ctx context.Context, yield func(T) bool) error {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return &Error{Query: query, Err: err}
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			v, err := scan(rows)
			if err != nil {
				return &Error{Query: query, Row: n, Err: err}
			}
			if !yield(v) {
				return nil
			}
		}
		if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return &Error{Query: query, Row: n + 1, Err: err}
		}
		return nil
	}).Named("sql")
}

// Error is a failure of a Query source: running the query (Row 0), or
// scanning or reading row Row.
type Error struct {
	Query string
	Row   int
	Err   error
}

func (e *Error) Error() string {
	if e.Row == 0 {
		return fmt.Sprintf("query %q: %v", e.Query, e.Err)
	}
	return fmt.Sprintf("query %q: row %d: %v", e.Query, e.Row, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
