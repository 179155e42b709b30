//go:build !unix

package main

import "time"

// cpuTime is not measured here: the benchmarks then report no cores.
func cpuTime() time.Duration { return -1 }
