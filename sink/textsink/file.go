package textsink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// fileWriter writes to a temporary file beside path and renames it over
// path on Commit. It is not a sink.Flusher: its items are stored only once
// the file is in place, so their receipts settle at the commit.
type fileWriter[T any] struct {
	buffered[T]
	path string
	tmp  *os.File
}

func openFile[T any](path string, enc encoder[T]) (*fileWriter[T], error) {
	tmp, err := createTemp(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fileWriter[T]{buffered: newBuffered[T](tmp, enc), path: path, tmp: tmp}, nil
}

// createTemp creates a new file beside path, named after it, with mode
// 0666 less the umask, as os.Create would (os.CreateTemp makes it 0600).
// O_EXCL makes sure it is a file of this run's own.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
}

func (f *fileWriter[T]) Write(_ context.Context, v T) error {
	if err := f.write(v); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

// Commit puts the file in place: its data synced, the mode of the file it
// replaces kept, renamed over the path, and the directory synced so that
// the rename is on disk too before the sink settles the items' receipts.
func (f *fileWriter[T]) Commit(context.Context) error {
	err := f.end()
	if err == nil {
		err = keepMode(f.tmp, f.path)
	}
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		_ = os.Remove(f.tmp.Name())
		return fmt.Errorf("%s: %w", f.path, err)
	}
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("%s: syncing its directory after the rename: %w", f.path, err)
	}
	return nil
}

// keepMode gives tmp the permissions of the file at path, if there is one.
func keepMode(tmp *os.File, path string) error {
	old, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new file: 0666 less the umask, as created
	}
	if err != nil {
		return err
	}
	return tmp.Chmod(old.Mode().Perm())
}

// syncDir syncs the directory dir, so that a rename in it survives a
// crash. Tests replace it to see it called.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f *fileWriter[T]) Abort() error {
	err := f.tmp.Close()
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	if rerr := os.Remove(f.tmp.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
