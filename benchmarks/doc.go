// Package benchmarks measures conveyor against a plain loop and a
// hand-written channel pipeline doing the same work, side by side in one
// run, reporting ns/item and allocs/item:
//
//	go test -run '^$' -bench . -benchmem ./benchmarks/
package benchmarks
