// Package cputime reads the CPU time the process has spent, for benchmarks
// that report it beside the time taken: on a shared machine, it is less
// disturbed by the other processes.
package cputime
