package sqlsink_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/testdb"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/internal/settletest"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

// A batch's receipts settle when its transaction commits, while the run
// goes on: the source waits, after each batch's worth of items, until the
// receipts of all the items so far have settled, and fails the run if they
// have not within 5 s. A sink holding them until the run ends fails it at
// the first batch.
func TestReceiptsSettleAsEachBatchCommits(t *testing.T) {
	for _, d := range testdb.Open(t) {
		for _, timed := range []bool{false, true} {
			name := d.Name + "/sequential batch"
			var opts []stage.Option
			if timed {
				name, opts = d.Name+"/timed batch", []stage.Option{stage.MaxWait(50 * time.Millisecond)}
			}
			t.Run(name, func(t *testing.T) {
				table(t, d, "sink_receipts")
				items := orders(50)
				rs := settletest.Receipts(len(items))
				src := settletest.Source(rs, func(i int) order { return items[i] }, settletest.SettleEvery(rs, 10, 5*time.Second))
				st := pipeline.New(src).Batch(10, opts...).Sink(sinkFor(d, "sink_receipts")).Run(context.Background())
				require.True(t, st.OK(), st.Message)
				assert.Equal(t, 50, d.Count(t, "sink_receipts"))
				for i, r := range rs {
					calls, o := r.Calls()
					assert.Equal(t, 1, calls, "item %d", i)
					assert.Equal(t, source.Done, o, "item %d", i)
				}
			})
		}
	}
}
