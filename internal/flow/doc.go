// Package flow is conveyor's engine room: the typed ports stages push items
// through, the per-run state (counters, goroutine list, drain switch), the
// per-item call that applies error policies and catches panics, and the
// error types shared by the public packages.
//
// Nothing here is part of the public API; stage, source, sink and pipeline
// re-export what users need.
package flow
