package textsink_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conveyor-go/conveyor/pipeline"
	"github.com/conveyor-go/conveyor/sink/textsink"
	"github.com/conveyor-go/conveyor/source"
)

// umaskEnv tells a test binary run by TestANewFileHonoursTheUmask to write
// the file named there under the umask named in umaskValueEnv, and to do
// nothing else.
const (
	umaskEnv      = "TEXTSINK_TEST_UMASK_FILE"
	umaskValueEnv = "TEXTSINK_TEST_UMASK"
)

// writeLines writes a, b to path with LinesFile.
func writeLines(t *testing.T, path string) {
	t.Helper()
	st := pipeline.New(source.Slice([]string{"a", "b"})).Sink(textsink.LinesFile(path)).Run(t.Context())
	require.True(t, st.OK(), st.Message)
}

// TestWriteUnderUmask is the child of TestANewFileHonoursTheUmask: the
// umask is the process's, so the child sets it, in a process of its own,
// and the package's other tests never see it.
func TestWriteUnderUmask(t *testing.T) {
	path := os.Getenv(umaskEnv)
	if path == "" {
		return // run by TestANewFileHonoursTheUmask only
	}
	mask, err := strconv.ParseUint(os.Getenv(umaskValueEnv), 8, 32)
	require.NoError(t, err)
	syscall.Umask(int(mask))
	writeLines(t, path)
}

// A new file is created 0666 less the umask, as the kernel applies it: the
// library never sets the umask, nor a mode of its own.
func TestANewFileHonoursTheUmask(t *testing.T) {
	for _, c := range []struct {
		umask string
		want  os.FileMode
	}{{"077", 0o600}, {"022", 0o644}, {"002", 0o664}} {
		t.Run(c.umask, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.txt")
			cmd := exec.Command(os.Args[0], "-test.run=^TestWriteUnderUmask$", "-test.count=1")
			cmd.Env = append(os.Environ(), umaskEnv+"="+path, umaskValueEnv+"="+c.umask)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			info, err := os.Stat(path)
			require.NoError(t, err, "%s", out)
			assert.Equal(t, c.want.String(), info.Mode().Perm().String())
		})
	}
}

// A file replaced keeps its mode, whatever the umask.
func TestAReplacedFileKeepsItsMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o640, 0o664, 0o755} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.txt")
			require.NoError(t, os.WriteFile(path, []byte("old\n"), 0o600))
			require.NoError(t, os.Chmod(path, mode))
			writeLines(t, path)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, "a\nb\n", string(b))
			info, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, mode.String(), info.Mode().Perm().String())
		})
	}
}
