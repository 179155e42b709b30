package textsrc_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source/textsrc"
	"github.com/conveyor-go/conveyor/stage"
)

// fuzzRow has a field of most kinds DecodeCSV converts to.
type fuzzRow struct {
	ID    string         `csv:"id"`
	N     int            `csv:"n,optional"`
	F     *float64       `csv:"f,optional"`
	OK    bool           `csv:"ok,optional"`
	At    *time.Time     `csv:"at,optional"`
	Took  time.Duration  `csv:"took,optional"`
	Small uint8          `csv:"small,optional"`
	Level *level         `csv:"level,optional"`
	Name  string         // untagged: by name, if there is such a column
	Extra map[string]int // not convertible, untagged: ignored
}

// FuzzCSV feeds arbitrary bytes through CSV and the decoders, under the
// Skip policy, and checks that the run accounts for every row and ends
// with code 0, or 1 and an error naming the input, never with a panic. For
// plain inputs it checks the rows against encoding/csv read directly.
func FuzzCSV(f *testing.F) {
	f.Add([]byte("id,n,f,ok\n1,2,3.5,true\n2,x,,false\n"))
	f.Add([]byte("id,name\n1,\"multi\nline\"\n2,b\"ad\n3,\"unclosed\n"))
	f.Add([]byte("\ufeffid;n\r\n1;2\r\n"))
	f.Add([]byte("ID,at,took,small,level\na,2024-01-02T03:04:05Z,1h,255,low\nb,yesterday,forever,256,medium\n"))
	f.Add([]byte("a,a\n1\n1,2,3\n"))
	f.Add([]byte("\"id\nx\n"))
	f.Add(gzipped(f, "id,n\n1,2\n"))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		ref := readCSVDirectly(data)

		var rows []fuzzRow
		st := pipeline.New(textsrc.CSV(bytes.NewReader(data), "fuzz.csv")).
			Via(textsrc.DecodeCSV[fuzzRow](stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&rows)).
			Run(t.Context())
		checkSkipRun(t, st, len(rows), "csv")
		if ref.known {
			checkAgainst(t, ref, st)
		}

		var maps []map[string]string
		st = pipeline.New(textsrc.CSV(bytes.NewReader(data), "fuzz.csv")).
			Via(textsrc.DecodeCSVMap(stage.OnError(stage.Skip()))).
			Sink(sink.Collect(&maps)).
			Run(t.Context())
		checkSkipRun(t, st, len(maps), "csv")
		if ref.known {
			checkAgainst(t, ref, st)
			assert.Equal(t, ref.maps, maps)
		}
	})
}

// csvRef is what encoding/csv, read directly, makes of a fuzz input.
type csvRef struct {
	known   bool                // the input is not gzip: the fields below are set
	fails   bool                // the header is malformed: the run fails
	records int64               // rows after the header, malformed ones too
	maps    []map[string]string // what DecodeCSVMap makes of them
}

func readCSVDirectly(data []byte) csvRef {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return csvRef{}
	}
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	ref := csvRef{known: true}
	header, err := cr.Read()
	if err != nil {
		ref.fails = !errors.Is(err, io.EOF)
		return ref
	}
	seen := map[string]bool{}
	dup := false
	for _, h := range header {
		dup = dup || seen[h]
		seen[h] = true
	}
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return ref
		}
		ref.records++
		if err != nil || dup || len(fields) != len(header) {
			continue
		}
		m := map[string]string{}
		for i, h := range header {
			m[h] = fields[i]
		}
		ref.maps = append(ref.maps, m)
	}
}

func checkAgainst(t *testing.T, ref csvRef, st pipeline.ExitStatus) {
	t.Helper()
	if ref.fails {
		require.Equal(t, pipeline.CodeFailure, st.Code, "a malformed header fails the run")
		return
	}
	require.Equal(t, pipeline.CodeSuccess, st.Code, st.Message)
	assert.Equal(t, ref.records, st.Counts.In, "every row after the header is emitted")
}

// checkSkipRun checks how a run under the Skip policy ended: code 0 with
// every item done or skipped, or code 1 with a source error naming the
// input; never a panic. done is how many items reached the sink.
func checkSkipRun(t *testing.T, st pipeline.ExitStatus, done int, src string) {
	t.Helper()
	var pe *stage.PanicError
	require.False(t, errors.As(st.Err, &pe), "a panic: %v", st.Err)
	c := st.Counts
	require.Equal(t, c.In, c.Done+c.Dropped+c.Skipped+c.DeadLettered+c.Failed+c.Abandoned, "%+v", c)
	require.Equal(t, int64(done), c.Done)
	require.Zero(t, c.DeadLettered)
	switch st.Code {
	case pipeline.CodeSuccess:
		require.NoError(t, st.Err)
		require.Zero(t, c.Failed)
		require.Zero(t, c.Abandoned)
	case pipeline.CodeFailure:
		require.Error(t, st.Err)
		require.Equal(t, src, st.Stage, "under Skip only the source fails the run: %v", st.Err)
		require.Contains(t, st.Message, "fuzz.")
	default:
		t.Fatalf("code %d: %s", st.Code, st.Message)
	}
}
