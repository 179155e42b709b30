//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTime returns the user+system CPU time the process has used so far, or
// -1 if the kernel does not say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
