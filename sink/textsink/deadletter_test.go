package textsink_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/internal/settletest"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

type csvRow struct {
	ID     int     `csv:"id"`
	Amount float64 `csv:"amount"`
}

func TestDeadLettersKeepTheBadRowsAsRead(t *testing.T) {
	in := "id,amount\n1,2.5\n2,\"12,5\"\n3,x\"y\n4,4\n"
	var rejects syncbuf.Buffer
	var good []csvRow
	st := pipeline.New(textsrc.CSV(strings.NewReader(in), "orders.csv"),
		pipeline.OnError(textsink.DeadLetters(&rejects))).
		Via(textsrc.DecodeCSV[csvRow]()).Sink(sink.Collect(&good)).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, []csvRow{{1, 2.5}, {4, 4}}, good)
	assert.EqualValues(t, 2, st.Counts.DeadLettered)

	var got []textsink.Rejected
	sc := bufio.NewScanner(strings.NewReader(rejects.String()))
	for sc.Scan() {
		var r textsink.Rejected
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		got = append(got, r)
	}
	require.Len(t, got, 2)
	assert.Equal(t, "orders.csv:3", got[0].Item)
	assert.Equal(t, "decode-csv", got[0].Stage)
	assert.Equal(t, `2,"12,5"`, got[0].Raw, "the row as CSV")
	assert.Contains(t, got[0].Error, `field "amount"`)
	assert.Equal(t, "orders.csv:4", got[1].Item, "a malformed row too")
	assert.NotEmpty(t, got[1].Error)
}

func TestDeadLettersOfOtherItems(t *testing.T) {
	var rejects syncbuf.Buffer
	st := pipeline.New(textsrc.Lines(strings.NewReader("{\"id\":1}\nnot json\n"), "in.jsonl"),
		pipeline.OnError(textsink.DeadLetters(&rejects))).
		Via(textsrc.DecodeJSON[csvRow]()).Sink(sink.Discard[csvRow]()).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	var r textsink.Rejected
	require.NoError(t, json.Unmarshal([]byte(rejects.String()), &r))
	assert.Equal(t, "not json", r.Raw)
	assert.Equal(t, "in.jsonl:2", r.Item)
}

// syncRecorder is a writer with Sync, as an *os.File has, that records
// its calls in order, each Sync with how many receipts had settled then.
type syncRecorder struct {
	rs     []*settletest.Receipt
	events []string
}

func (s *syncRecorder) Write(p []byte) (int, error) {
	s.events = append(s.events, "write")
	return len(p), nil
}

func (s *syncRecorder) Sync() error {
	settled := 0
	for _, r := range s.rs {
		if n, _ := r.Calls(); n > 0 {
			settled++
		}
	}
	s.events = append(s.events, fmt.Sprintf("sync (%d settled)", settled))
	return nil
}

// Each dead letter is synced before the dead-letter function returns, so
// the run settles the item (a queue terminates its message) only once its
// dead letter is on disk.
func TestDeadLettersAreSyncedBeforeTheirItemsSettle(t *testing.T) {
	rs := settletest.Receipts(4)
	rec := &syncRecorder{rs: rs}
	failOdd := stage.Map(func(_ context.Context, v int) (int, error) {
		if v%2 == 1 {
			return 0, errors.New("odd")
		}
		return v, nil
	})
	st := pipeline.New(settletest.Source(rs, func(i int) int { return i }, nil), pipeline.OnError(textsink.DeadLetters(rec))).
		Via(failOdd).Sink(sink.Discard[int]()).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	assert.EqualValues(t, 2, st.Counts.DeadLettered)
	// Items 0 and 2 settle Done as the sink takes them; 1 and 3 after
	// their syncs.
	assert.Equal(t, []string{"write", "sync (1 settled)", "write", "sync (3 settled)"}, rec.events)
	for _, i := range []int{1, 3} {
		n, o := rs[i].Calls()
		assert.Equal(t, 1, n)
		assert.Equal(t, source.DeadLettered, o)
	}
}

// A writer that cannot be synced (a pipe, a terminal, /dev/null: fsync
// says EINVAL) takes dead letters all the same.
func TestDeadLettersToAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	st := pipeline.New(textsrc.Lines(strings.NewReader("{\"id\":1}\nnot json\n"), "in.jsonl"),
		pipeline.OnError(textsink.DeadLetters(w))).
		Via(textsrc.DecodeJSON[csvRow]()).Sink(sink.Discard[csvRow]()).Run(context.Background())
	require.NoError(t, w.Close())
	require.True(t, st.OK(), st.Message)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"raw":"not json"`)
}
