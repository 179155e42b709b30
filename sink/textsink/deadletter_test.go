package textsink_test

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/internal/syncbuf"
	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source/textsrc"
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
