package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/sqlsink"
	"github.com/conveyor-go/conveyor/sink/textsink"
)

// writeOrders writes n valid orders as the JSON Lines clean makes, the
// n-th from row n+1 of orders.csv.
func writeOrders(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, `{"id":%d,"customer":"C%d","country":"DE","region":"EMEA","product":"valve","quantity":2,"unit_price":1.50,"total":3.00,"created_at":"2025-01-01T00:00:00Z","source":"orders.csv:%d"}`+"\n", i+1, i, i+2)
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
}

// The load job with a pipeline-wide dead-letter policy, into a database
// whose orders table does not exist: every batch fails. Under the default
// failure budget the run stops with code 1 at once, naming the budget and
// the SQL error, instead of dead-lettering all 200,000 rows and reporting
// a success.
func TestAMissingTableFailsTheLoadUnderTheDefaultBudget(t *testing.T) {
	const rows = 200_000
	dir := t.TempDir()
	in := filepath.Join(dir, "orders.jsonl")
	writeOrders(t, in, rows)
	db, err := sql.Open("sqlite", filepath.Join(dir, "empty.db"))
	require.NoError(t, err)
	defer db.Close()

	for _, c := range []struct {
		batch int
		want  string
	}{
		{500, `failure budget exceeded: 500 of the first 500 items failed (default limit MaxFailureRate(0.99, 100)); last: stage 4 "sql-insert", item #0: insert into orders: batch of 500 items (orders.csv:2 ... orders.csv:501) rolled back: `},
		{1, `failure budget exceeded: 100 of the first 100 items failed (default limit MaxFailureRate(0.99, 100)); last: stage 4 "sql-insert", item #99: insert into orders: item orders.csv:101 rolled back: `},
	} {
		t.Run(fmt.Sprintf("batches of %d", c.batch), func(t *testing.T) {
			var dead bytes.Buffer
			st := newStages(2).loadJob(in, db, c.batch, pipeline.OnError(textsink.DeadLetters(&dead))).Run(t.Context())

			require.Equal(t, pipeline.CodeFailure, st.Code, st.Message)
			assert.Contains(t, st.Message, c.want)
			assert.Contains(t, st.Message, "no such table: orders")
			var be *pipeline.BudgetError
			require.ErrorAs(t, st.Err, &be)
			var bat *sqlsink.BatchError
			assert.ErrorAs(t, st.Err, &bat, "the last item's error, the SQL batch's")
			assert.Equal(t, "sql-insert", st.Stage)
			c2 := st.Counts
			assert.Zero(t, c2.Done)
			assert.Equal(t, int64(max(c.batch, 100)), c2.DeadLettered, "the first failures that exceed the budget, dead-lettered")
			assert.Less(t, c2.In, int64(rows/10), "the source stopped at once: %+v", c2)
			assert.Less(t, st.Duration, 10*time.Second)
			assert.Equal(t, int(c2.DeadLettered)/c.batch, strings.Count(dead.String(), "\n"), "one dead letter per batch")
			t.Logf("%s (%v, %+v)", st, st.Duration.Round(time.Millisecond), c2)
		})
	}
}

// Within the budget the run goes on, and its message counts what failed.
func TestTheCleanJobSaysWhatItDeadLettered(t *testing.T) {
	cfg := config{rows: 2000, every: 200, seed: 7, dir: t.TempDir(), workers: 2, batch: 500, quiet: true}
	var out bytes.Buffer
	results, err := run(t.Context(), cfg, &out)
	require.NoError(t, err, out.String())
	require.NotEmpty(t, results)
	st := results[0].status
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	// 10 bad rows: 2 of each kind, 4 that do not decode and 6 that do not
	// validate (see expect).
	want := `Finished with 10 of 2,000 items dead-lettered (stage 2 "decode-csv": 4, stage 3 "validate": 6)`
	assert.Equal(t, want, st.Message)
	assert.Contains(t, out.String(), "with message: ["+want+"]")
}

// An input with more bad rows than the clean job's budget allows (2%, over
// its 1%) stops it at the 1,000th row, and nothing is written or loaded.
func TestTheCleanJobStopsOnAnInputWithTooManyBadRows(t *testing.T) {
	cfg := config{rows: 20_000, every: 50, seed: 7, dir: t.TempDir(), workers: 2, batch: 500, quiet: true}
	var out bytes.Buffer
	results, err := run(t.Context(), cfg, &out)
	require.NoError(t, err, out.String())
	require.Len(t, results, 1, "the jobs after clean do not run")
	st := results[0].status
	var be *pipeline.BudgetError
	require.ErrorAs(t, st.Err, &be, st.Message)
	assert.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Equal(t, "MaxFailureRate(0.01, 1000)", be.Limit)
	assert.GreaterOrEqual(t, be.Items, int64(1000))
	assert.Greater(t, float64(be.Failed), 0.01*float64(be.Items))
	assert.Less(t, st.Counts.In, int64(cfg.rows/2), "it stopped at once: %+v", st.Counts)
	assert.Contains(t, st.Message, "failure budget exceeded: ")
	assert.Contains(t, st.Message, "(limit MaxFailureRate(0.01, 1000)); last: stage ")
	assert.NoFileExists(t, cfg.paths().clean, "a failed run leaves no output")
	t.Log(st)
}
