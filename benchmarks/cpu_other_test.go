//go:build !unix

package benchmarks

import "time"

// cpuTime is not measured here: measure then reports no cores.
func cpuTime() time.Duration { return -1 }
