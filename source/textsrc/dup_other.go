//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package textsrc

import (
	"errors"
	"os"
)

// pollableDup reports that this system has no duplicate of f's descriptor
// that the runtime polls: f is read in a goroutine of its own instead.
func pollableDup(*os.File) (*os.File, func(), error) {
	return nil, nil, errors.New("no pollable duplicate on this system")
}
