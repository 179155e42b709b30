package sqlsrc_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/sqlsrc"
	"github.com/conveyor-go/conveyor/stage"
)

type order struct {
	ID    int
	Total float64
}

func scan(rows *sql.Rows) (order, error) {
	var o order
	err := rows.Scan(&o.ID, &o.Total)
	return o, err
}

// fill makes table src_orders with n rows: id i, total i/2.
func fill(t *testing.T, d testdb.DB, n int) {
	t.Helper()
	d.Exec(t, `DROP TABLE IF EXISTS src_orders`,
		`CREATE TABLE src_orders (id INTEGER PRIMARY KEY, total DOUBLE PRECISION NOT NULL)`)
	tx, err := d.Begin()
	require.NoError(t, err)
	q := "INSERT INTO src_orders (id, total) VALUES (?, ?)"
	if d.Dollar {
		q = "INSERT INTO src_orders (id, total) VALUES ($1, $2)"
	}
	for i := range n {
		_, err := tx.Exec(q, i, float64(i)/2)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

func TestQueryStreamsEveryRow(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			fill(t, d, 3000)
			q := "SELECT id, total FROM src_orders WHERE id >= ? ORDER BY id"
			if d.Dollar {
				q = strings.Replace(q, "?", "$1", 1)
			}
			var got []order
			st := pipeline.New(sqlsrc.Query(d.DB, q, scan, 1000)).Sink(sink.Collect(&got)).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			require.Len(t, got, 2000)
			for i, o := range got {
				require.Equal(t, order{ID: 1000 + i, Total: float64(1000+i) / 2}, o)
			}
		})
	}
}

func TestAScanErrorNamesTheRow(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			fill(t, d, 10)
			bad := func(rows *sql.Rows) (order, error) {
				o, err := scan(rows)
				if err == nil && o.ID == 6 {
					err = errors.New("negative stock")
				}
				return o, err
			}
			q := "SELECT id, total FROM src_orders ORDER BY id"
			st := pipeline.New(sqlsrc.Query(d.DB, q, bad)).Sink(sink.Discard[order]()).Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code)
			var e *sqlsrc.Error
			require.ErrorAs(t, st.Err, &e)
			assert.Equal(t, 7, e.Row)
			assert.Contains(t, st.Message, fmt.Sprintf("query %q: row 7: negative stock", q))
			assert.EqualValues(t, 6, st.Counts.In, "the rows before it were emitted")
		})
	}
}

func TestABadQueryIsAnError(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			st := pipeline.New(sqlsrc.Query(d.DB, "SELECT nothing FROM nowhere", scan)).
				Sink(sink.Discard[order]()).Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code)
			assert.Contains(t, st.Message, `query "SELECT nothing FROM nowhere"`)
		})
	}
}

func TestAStoppedRunClosesTheRows(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			fill(t, d, 500)
			q := "SELECT id, total FROM src_orders ORDER BY id"
			st := pipeline.New(sqlsrc.Query(d.DB, q, scan)).
				Via(stage.Map(func(_ context.Context, o order) (order, error) {
					if o.ID == 100 {
						return o, errors.New("stop here")
					}
					return o, nil
				})).Sink(sink.Discard[order]()).Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code)
			// The connection went back to the pool: no rows are left open.
			assert.Zero(t, d.Stats().InUse, "no connection is held by open rows")
			assert.Equal(t, 500, d.Count(t, "src_orders"), "the database is usable")
		})
	}
}

func TestBadArgumentsAreReportedBeforeTheRun(t *testing.T) {
	d := testdb.Open(t)[0]
	for name, src := range map[string]source.Source{
		"nil db":   sqlsrc.Query[order](nil, "SELECT 1", scan),
		"empty":    sqlsrc.Query(d.DB, "", scan),
		"nil scan": sqlsrc.Query[order](d.DB, "SELECT 1", nil),
	} {
		st := pipeline.New(src).Sink(sink.Discard[order]()).Run(context.Background())
		assert.Equal(t, pipeline.CodeInvalid, st.Code, name)
	}
}
