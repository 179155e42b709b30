package textsrc

import (
	"io"
	"os"
)

// shrank returns the error of a regular file that is now shorter than the
// offset reading it got to, errFileShrank, or nil: for anything else, or
// when the file cannot tell. The sources call it at the end of their
// input, where a file truncated under them would end early.
func (s *stoppable) shrank() error {
	f, ok := s.r.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	read, err := f.Seek(0, io.SeekCurrent)
	if err != nil || fi.Size() >= read {
		return nil
	}
	return errFileShrank(read, fi.Size())
}
