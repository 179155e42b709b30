package textsink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/internal/settletest"
)

// watchSyncDir makes syncDir record, at each call, the directory, what the
// file at path holds then and how many of rs have settled, and then return
// fail (or sync, if fail is nil).
func watchSyncDir(t *testing.T, path string, rs []*settletest.Receipt, fail error) *[]string {
	var calls []string
	orig := syncDir
	t.Cleanup(func() { syncDir = orig })
	syncDir = func(dir string) error {
		b, _ := os.ReadFile(path)
		settled := 0
		for _, r := range rs {
			if n, _ := r.Calls(); n > 0 {
				settled++
			}
		}
		calls = append(calls, fmt.Sprintf("%s: %q, %d settled", dir, b, settled))
		if fail != nil {
			return fail
		}
		return orig(dir)
	}
	return &calls
}

// The rename is made durable before any receipt settles: the directory is
// synced once, after the file is in place and before the receipts settle.
func TestTheDirectoryIsSyncedAfterTheRenameBeforeReceiptsSettle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	rs := settletest.Receipts(3)
	calls := watchSyncDir(t, path, rs, nil)
	st := pipeline.New(settletest.Source(rs, strconv.Itoa, nil)).Sink(LinesFile(path)).Run(context.Background())
	require.True(t, st.OK(), st.Message)
	assert.Equal(t, []string{dir + `: "0\n1\n2\n", 0 settled`}, *calls)
	for i, r := range rs {
		n, _ := r.Calls()
		assert.Equal(t, 1, n, "item %d", i)
	}
}

// A directory that cannot be synced fails the run: the rename may not
// survive a crash, so the items are not settled and come again.
func TestAFailedDirectorySyncFailsTheRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	rs := settletest.Receipts(3)
	watchSyncDir(t, path, rs, errors.New("I/O error"))
	st := pipeline.New(settletest.Source(rs, strconv.Itoa, nil)).Sink(LinesFile(path)).Run(context.Background())
	require.Equal(t, pipeline.CodeFailure, st.Code)
	assert.Contains(t, st.Message, path+": syncing its directory after the rename: I/O error")
	for i, r := range rs {
		n, _ := r.Calls()
		assert.Zero(t, n, "item %d", i)
	}
}
