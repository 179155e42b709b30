package sqlsink_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/sqlsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

type order struct {
	ID       int
	Customer string
	Total    float64
}

func orders(n int) []order {
	out := make([]order, n)
	for i := range out {
		out[i] = order{ID: i, Customer: fmt.Sprintf("c%d", i%7), Total: float64(i) / 4}
	}
	return out
}

// table makes a fresh table of orders, unique by id.
func table(t *testing.T, d testdb.DB, name string) {
	t.Helper()
	d.Exec(t, `DROP TABLE IF EXISTS "`+name+`"`,
		`CREATE TABLE "`+name+`" (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total DOUBLE PRECISION NOT NULL)`)
}

func values(o order) []any { return []any{o.ID, o.Customer, o.Total} }

var columns = []string{"id", "customer", "total"}

type sqlsinkOf = *sink.Of[[]order]

func sinkFor(d testdb.DB, table string, opts ...sqlsink.Option[order]) sqlsinkOf {
	if d.Dollar {
		opts = append(opts, sqlsink.Dollar[order]())
	}
	return sqlsink.Insert(d.DB, table, columns, values, opts...)
}

func TestInsertWritesEveryBatch(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_orders")
			items := orders(2500)
			st := pipeline.New(source.Slice(items)).Batch(100).Sink(sinkFor(d, "sink_orders")).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			assert.Equal(t, 2500, d.Count(t, "sink_orders"))
			assert.EqualValues(t, 2500, st.Counts.Done)
			var sum float64
			require.NoError(t, d.QueryRow(`SELECT SUM(total) FROM sink_orders`).Scan(&sum))
			assert.InDelta(t, 2499.0*2500/2/4, sum, 1e-6, "the values arrive as given")
		})
	}
}

func TestALargeBatchTakesSeveralStatementsInOneTransaction(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_big")
			// 3 columns: 10,000 rows per statement, so 25,000 rows take 3.
			st := pipeline.New(source.Slice(orders(25_000))).Batch(25_000).Sink(sinkFor(d, "sink_big")).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			assert.Equal(t, 25_000, d.Count(t, "sink_big"))
		})
	}
}

// withDuplicate is orders(n) with item dup given the id of item 0, so the
// batch that holds it breaks the primary key.
func withDuplicate(n, dup int) []order {
	items := orders(n)
	items[dup].ID = 0
	return items
}

func TestAFailedBatchIsRolledBackAndNamed(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_orders")
			label := sqlsink.Label(func(o order) string { return fmt.Sprintf("order-%d", o.ID) })
			st := pipeline.New(source.Slice(withDuplicate(50, 25))).Batch(10).
				Sink(sinkFor(d, "sink_orders", label)).Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code)
			var be *sqlsink.BatchError
			require.ErrorAs(t, st.Err, &be)
			assert.Equal(t, "sink_orders", be.Table)
			assert.Len(t, be.Labels, 10)
			assert.Equal(t, "order-20", be.Labels[0])
			assert.Contains(t, st.Message, "insert into sink_orders: batch of 10 items (order-20 ... order-29) rolled back")
			assert.Equal(t, 20, d.Count(t, "sink_orders"), "the two batches before it, and nothing of it")
		})
	}
}

func TestUnderSkipTheRunGoesOnWithoutTheFailedBatch(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_orders")
			var dead []string
			policy := stage.DeadLetter(func(_ context.Context, dl stage.DeadLetterItem) error {
				dead = append(dead, dl.Label)
				return nil
			})
			st := pipeline.New(source.Slice(withDuplicate(50, 25)), pipeline.OnError(policy)).Batch(10).
				Sink(sinkFor(d, "sink_orders")).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			assert.Equal(t, 40, d.Count(t, "sink_orders"))
			assert.EqualValues(t, 40, st.Counts.Done)
			assert.EqualValues(t, 10, st.Counts.DeadLettered, "the batch's 10 source items")
			assert.Equal(t, []string{"#2"}, dead, "the sink's third batch")
		})
	}
}

func TestAValuesFunctionOfTheWrongWidthFailsTheBatch(t *testing.T) {
	d := testdb.Open(t)[0]
	table(t, d, "sink_orders")
	s := sqlsink.Insert(d.DB, "sink_orders", columns, func(o order) []any { return []any{o.ID} })
	st := pipeline.New(source.Slice(orders(3))).Batch(3).Sink(s).Run(context.Background())
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, "item 0 of the batch gives 1 values for 3 columns")
	assert.Zero(t, d.Count(t, "sink_orders"))
}

func TestBadArgumentsAreReportedBeforeTheRun(t *testing.T) {
	d := testdb.Open(t)[0]
	for name, s := range map[string]sqlsinkOf{
		"nil db":     sqlsink.Insert[order](nil, "t", columns, values),
		"no table":   sqlsink.Insert(d.DB, "", columns, values),
		"no columns": sqlsink.Insert(d.DB, "t", nil, values),
		"nil values": sqlsink.Insert[order](d.DB, "t", columns, nil),
	} {
		st := pipeline.New(source.Slice(orders(1))).Batch(1).Sink(s).Run(context.Background())
		assert.Equal(t, pipeline.CodeInvalid, st.Code, name)
		assert.True(t, errors.Is(st.Err, pipeline.ErrInvalid), name)
	}
}

// TestAPanicInValuesRollsTheBatchBack: a panic in the values function fails
// its batch (here skipped), and its transaction is rolled back at once, so
// that it holds no connection and the next batches are stored. The
// transaction is not bound to the run's context, which would otherwise
// have ended it (found by the connector fault suite: a goroutine of
// database/sql left behind, and SQLite's one connection held).
func TestAPanicInValuesRollsTheBatchBack(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_orders")
			panicky := func(o order) []any {
				if o.ID == 13 {
					panic("no values for 13")
				}
				return values(o)
			}
			var opts []sqlsink.Option[order]
			if d.Dollar {
				opts = append(opts, sqlsink.Dollar[order]())
			}
			st := pipeline.New(source.Slice(orders(30)), pipeline.OnError(stage.Skip())).Batch(10).
				Sink(sqlsink.Insert(d.DB, "sink_orders", columns, panicky, opts...)).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			assert.EqualValues(t, 10, st.Counts.Skipped, "the batch of item 13")
			assert.Equal(t, 20, d.Count(t, "sink_orders"), "the batches before and after it")
			assert.Zero(t, d.DB.Stats().InUse, "no transaction holds a connection")
		})
	}
}
