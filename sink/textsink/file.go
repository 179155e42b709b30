package textsink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// fileWriter writes to a temporary file beside path and renames it over
// path on Commit.
type fileWriter[T any] struct {
	buffered[T]
	path string
	tmp  *os.File
}

func openFile[T any](path string, enc encoder[T]) (*fileWriter[T], error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fileWriter[T]{buffered: newBuffered[T](tmp, enc), path: path, tmp: tmp}, nil
}

func (f *fileWriter[T]) Write(_ context.Context, v T) error {
	if err := f.write(v); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

func (f *fileWriter[T]) Commit(context.Context) error {
	err := f.end()
	if err == nil {
		err = f.tmp.Sync()
	}
	if cerr := f.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.tmp.Name(), 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(f.tmp.Name(), f.path)
	}
	if err != nil {
		_ = os.Remove(f.tmp.Name())
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
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
