package textsink_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/stage"
)

type order struct {
	ID     int     `json:"id"`
	Amount float64 `json:"amount"`
}

func orders(n int) []order {
	out := make([]order, n)
	for i := range out {
		out[i] = order{ID: i, Amount: float64(i) + 0.5}
	}
	return out
}

func row(o order) []string {
	return []string{strconv.Itoa(o.ID), strconv.FormatFloat(o.Amount, 'f', 2, 64)}
}

func run(t *testing.T, p *pipeline.Pipeline) pipeline.ExitStatus {
	t.Helper()
	return p.Run(context.Background())
}

func TestWritersToAnIOWriter(t *testing.T) {
	var lines, jsonl, csvOut bytes.Buffer
	st := run(t, pipeline.New(source.Slice([]string{"a", "b c", ""})).Sink(textsink.Lines(&lines)))
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, "a\nb c\n\n", lines.String())

	st = run(t, pipeline.New(source.Slice(orders(2))).Sink(textsink.JSONL[order](&jsonl)))
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, "{\"id\":0,\"amount\":0.5}\n{\"id\":1,\"amount\":1.5}\n", jsonl.String())

	st = run(t, pipeline.New(source.Slice(orders(2))).Sink(textsink.CSV(&csvOut, []string{"id", "amount"}, row)))
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, "id,amount\n0,0.50\n1,1.50\n", csvOut.String())
}

func TestAnEmptyCSVStillHasItsHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.csv")
	st := run(t, pipeline.New(source.Slice([]order{})).Sink(textsink.CSVFile(path, []string{"id", "amount"}, row)))
	require.True(t, st.OK(), st.Message)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "id,amount\n", string(b))
}

func TestACSVRowOfTheWrongWidthIsAnErrorNamingTheItem(t *testing.T) {
	var out bytes.Buffer
	st := run(t, pipeline.New(source.Slice([]int{1, 2})).
		Sink(textsink.CSV(&out, []string{"a", "b"}, func(v int) []string { return make([]string, v) })))
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, "row has 1 fields, the header 2")
	assert.Equal(t, "#0", st.Target)
}

// files lists the directory: the output, and any temporary file left.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestAFileAppearsWholeOnSuccess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "orders.jsonl")
	st := run(t, pipeline.New(source.Slice(orders(1000))).Sink(textsink.JSONLFile[order](path)))
	require.True(t, st.OK(), st.Message)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, 1000, bytes.Count(b, []byte("\n")))
	assert.Equal(t, []string{"orders.jsonl"}, files(t, dir), "no temporary file is left")
}

func TestAFailedRunLeavesTheOldFileAndNoTemporaryOne(t *testing.T) {
	boom := errors.New("boom")
	for _, fail := range []string{"stage", "cancel"} {
		t.Run(fail, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.txt")
			require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o644))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			items := make([]string, 200_000) // far more than the buffer: some are written
			st := pipeline.New(source.Slice(items)).
				Via(stage.Map(func(_ context.Context, s string) (string, error) { return s + "x", nil })).
				Via(stage.Map(func() func(context.Context, string) (string, error) {
					n := 0
					return func(_ context.Context, s string) (string, error) {
						if n++; n == 150_000 {
							if fail == "stage" {
								return "", boom
							}
							cancel()
						}
						return s, nil
					}
				}())).
				Sink(textsink.LinesFile(path)).Run(ctx)
			require.False(t, st.OK())
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "old\n", string(b), "the old file is untouched")
			assert.Equal(t, []string{"out.txt"}, files(t, dir), "the temporary file is removed")
		})
	}
}

func TestADrainedRunCommitsWhatItDid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drained.txt")
	stop := make(chan os.Signal, 1)
	n := 0
	src := source.Func(func(ctx context.Context, yield func(string) bool) error {
		for i := 0; ; i++ {
			if i == 100 {
				stop <- syscall.SIGINT // drain after 100 items
			}
			if !yield(strconv.Itoa(i)) {
				return nil
			}
		}
	})
	st := pipeline.New(src, pipeline.WithStopChannel(stop)).
		Via(stage.Tap(func(context.Context, string) error { n++; return nil })).
		Sink(textsink.LinesFile(path)).Run(context.Background())
	require.Equal(t, 130, st.Code, st.Message)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, n, bytes.Count(b, []byte("\n")), "every item that reached the sink is in the file")
	assert.EqualValues(t, st.Counts.Done, n)
	assert.GreaterOrEqual(t, n, 100)
}

func TestBadArgumentsAreReportedBeforeTheRun(t *testing.T) {
	for name, s := range map[string]*sink.Of[order]{
		"nil writer": textsink.JSONL[order](nil),
		"empty path": textsink.JSONLFile[order](""),
		"nil row":    textsink.CSV[order](&bytes.Buffer{}, nil, nil),
		"nil row 2":  textsink.CSVFile[order]("x.csv", nil, nil),
	} {
		st := run(t, pipeline.New(source.Slice(orders(1))).Sink(s))
		assert.Equal(t, pipeline.CodeInvalid, st.Code, name)
		assert.ErrorIs(t, st.Err, pipeline.ErrInvalid, name)
	}
}

func TestAnUnwritableDirectoryIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "out.txt")
	st := run(t, pipeline.New(source.Slice([]string{"a"})).Sink(textsink.LinesFile(path)))
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, "missing")
}
