package textsink_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/sqlsink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
)

// The dead letter of a failed SQL batch, the 730 KB line of issue 14: the
// batch ([]sale) is its JSON, cut at the cap.
func TestADeadLetterOfAFailedSQLBatchIsCapped(t *testing.T) {
	for _, d := range testdb.Open(t) {
		t.Run(d.Name, func(t *testing.T) {
			d.Exec(t, `DROP TABLE IF EXISTS textsink_dead_sales`,
				`CREATE TABLE textsink_dead_sales (id BIGINT PRIMARY KEY, customer TEXT NOT NULL)`)
			items := sales(2 * bigBatch)
			items[bigBatch+1].ID = items[bigBatch].ID // the second batch breaks the key
			var opts []sqlsink.Option[sale]
			if d.Dollar {
				opts = append(opts, sqlsink.Dollar[sale]())
			}
			insert := sqlsink.Insert(d.DB, "textsink_dead_sales", []string{"id", "customer"},
				func(s sale) []any { return []any{s.ID, s.Customer} }, opts...)
			var rejects syncbuf.Buffer
			st := pipeline.New(source.Slice(items), pipeline.OnError(textsink.DeadLetters(&rejects)),
				pipeline.WithoutFailureBudget()). // the one batch of two fails whole, as a failed batch does

				Batch(bigBatch).Sink(insert).Run(context.Background())
			require.True(t, st.OK(), st.Message)
			assert.EqualValues(t, bigBatch, st.Counts.DeadLettered)
			assert.Equal(t, bigBatch, d.Count(t, "textsink_dead_sales"))

			line, w := decodeOne(t, rejects.String())
			assert.Equal(t, "#1", w.Item, "the sink's second batch")
			assert.Contains(t, w.Error, "insert into textsink_dead_sales: batch of 10000 items (#10000 ... #19999) rolled back")
			checkCapped(t, line, w, items[bigBatch:])
		})
	}
}
