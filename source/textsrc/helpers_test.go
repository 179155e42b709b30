package textsrc_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink"
	"github.com/conveyor-go/conveyor/source"
	"github.com/conveyor-go/conveyor/source/textsrc"
)

// errBoom is the failure the test readers return.
var errBoom = errors.New("boom")

// gzipped returns s compressed with gzip.
func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// writeFile writes data to a file named name in a fresh directory and
// returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// drain runs src into a slice and returns what came out and how the run
// ended.
func drain[T any](t *testing.T, src *source.Of[T], opts ...pipeline.Option) ([]T, pipeline.ExitStatus) {
	t.Helper()
	var got []T
	st := pipeline.New(src, opts...).Sink(sink.Collect(&got)).Run(t.Context())
	return got, st
}

// texts returns the Text of each line.
func texts(lines []textsrc.Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// failingReader gives data, then fails with err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// endless gives the line "x\n" forever.
type endless struct{ odd bool }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "x\n"[btoi(e.odd)]
		e.odd = !e.odd
	}
	return len(p), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
