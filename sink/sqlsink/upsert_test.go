package sqlsink_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/sqlsink"
	"github.com/conveyor-go/conveyor/source"
)

// redelivered is orders(70)[20:]: the batches of items 20-49 come again
// after orders(50) was stored, as after a crash, with new totals, and items
// 50-69 are new.
func redelivered() []order {
	items := orders(70)[20:]
	for i := range items {
		items[i].Total += 1000
	}
	return items
}

// Without Upsert a batch delivered again fails whole on the key: the
// issue's case, and why Upsert exists.
func TestARedeliveredBatchFailsWithoutUpsert(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_upsert")
			st := pipeline.New(source.Slice(orders(50))).Batch(10).Sink(sinkFor(d, "sink_upsert")).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			st = pipeline.New(source.Slice(redelivered())).Batch(10).Sink(sinkFor(d, "sink_upsert")).Run(context.Background())
			require.Equal(t, pipeline.CodeFailure, st.Code)
			assert.Contains(t, st.Message, "batch of 10 items (#0 ... #9) rolled back")
			assert.Equal(t, 50, d.Count(t, "sink_upsert"))
		})
	}
}

func TestUpsertStoresARedeliveredBatchOnce(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_upsert")
			upsert := sqlsink.Upsert[order]("id")
			for _, items := range [][]order{orders(50), redelivered(), redelivered()} {
				st := pipeline.New(source.Slice(items)).Batch(10).Sink(sinkFor(d, "sink_upsert", upsert)).Run(context.Background())
				require.True(t, st.OK(), st.Message)
				assert.EqualValues(t, len(items), st.Counts.Done)
			}
			assert.Equal(t, 70, d.Count(t, "sink_upsert"), "each id once")
			var total float64
			var customer string
			require.NoError(t, d.QueryRow(`SELECT total, customer FROM sink_upsert WHERE id = 30`).Scan(&total, &customer))
			assert.InDelta(t, 1000+30.0/4, total, 1e-9, "the other columns take the new values")
			assert.Equal(t, "c2", customer)
			require.NoError(t, d.QueryRow(`SELECT total FROM sink_upsert WHERE id = 10`).Scan(&total))
			assert.InDelta(t, 10.0/4, total, 1e-9, "rows not delivered again are left alone")
		})
	}
}

// When every column is in the key there is nothing to update: a row
// already there is left alone (DO NOTHING).
func TestUpsertOnEveryColumnLeavesTheRowAlone(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			d.Exec(t, `DROP TABLE IF EXISTS sink_pairs`, `CREATE TABLE sink_pairs (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b))`)
			opts := []sqlsink.Option[[2]int]{sqlsink.Upsert[[2]int]("a", "b")}
			if d.Dollar {
				opts = append(opts, sqlsink.Dollar[[2]int]())
			}
			s := sqlsink.Insert(d.DB, "sink_pairs", []string{"a", "b"}, func(p [2]int) []any { return []any{p[0], p[1]} }, opts...)
			pairs := [][2]int{{1, 1}, {1, 2}, {2, 1}}
			for range 2 {
				st := pipeline.New(source.Slice(pairs)).Batch(2).Sink(s).Run(context.Background())
				require.True(t, st.OK(), st.Message)
			}
			assert.Equal(t, 3, d.Count(t, "sink_pairs"))
		})
	}
}

func TestAnUpsertKeyMustBeAColumn(t *testing.T) {
	d := testdb.Open(t)[0]
	for name, c := range map[string]struct {
		opt  sqlsink.Option[order]
		want string
	}{
		"no key":       {sqlsink.Upsert[order](), "upsert with no key column"},
		"not a column": {sqlsink.Upsert[order]("id", "sku"), `upsert key "sku" is not one of the columns`},
	} {
		st := pipeline.New(source.Slice(orders(1))).Batch(1).Sink(sinkFor(d, "t", c.opt)).Run(context.Background())
		assert.Equal(t, pipeline.CodeInvalid, st.Code, name)
		assert.Contains(t, st.Message, c.want, name)
	}
}

// A key twice in one batch: SQLite keeps the last row, PostgreSQL fails the
// batch, as Upsert's doc says.
func TestAKeyTwiceInOneUpsertBatch(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			table(t, d, "sink_upsert")
			items := orders(3)
			items[2].ID, items[2].Total = 0, 99
			st := pipeline.New(source.Slice(items)).Batch(3).
				Sink(sinkFor(d, "sink_upsert", sqlsink.Upsert[order]("id"))).Run(context.Background())
			if d.Name == "postgres" {
				require.Equal(t, pipeline.CodeFailure, st.Code)
				assert.Contains(t, st.Message, "cannot affect row a second time")
				return
			}
			require.True(t, st.OK(), st.Message)
			var total float64
			require.NoError(t, d.QueryRow(`SELECT total FROM sink_upsert WHERE id = 0`).Scan(&total))
			assert.Equal(t, 99.0, total)
		})
	}
}
