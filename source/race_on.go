//go:build race

package source

// raceEnabled turns on the check that a generator does not call yield from
// several goroutines at once: in race-enabled builds only, where its
// atomic operations per item are lost in the detector's own cost.
const raceEnabled = true
