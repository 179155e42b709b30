package faultkit

import "runtime"

// Stacks returns the dump of every goroutine, for a run that hangs.
func Stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Clip returns s cut to its first n bytes, with "..." after it if it was
// longer: a long exit message stays readable in a report.
func Clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
