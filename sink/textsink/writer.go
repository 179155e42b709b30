package textsink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

func (s *streamWriter[T]) Write(_ context.Context, v T) error { return s.enc.encode(s.buf, v) }

func (s *streamWriter[T]) Commit(context.Context) error {
	if err := s.enc.end(s.buf); err != nil {
		return err
	}
	return s.buf.Flush()
}

// Abort leaves the caller's writer as it is, with whatever was flushed to
// it already: only a file can be taken back.
func (s *streamWriter[T]) Abort() error { return nil }

// fileWriter writes to a temporary file beside path and renames it over
// path on Commit.
type fileWriter[T any] struct {
	*streamWriter[T]
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
	return &fileWriter[T]{streamWriter: newStream[T](tmp, enc), path: path, tmp: tmp}, nil
}

func (f *fileWriter[T]) Write(ctx context.Context, v T) error {
	if err := f.streamWriter.Write(ctx, v); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

func (f *fileWriter[T]) Commit(ctx context.Context) error {
	err := f.streamWriter.Commit(ctx)
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
