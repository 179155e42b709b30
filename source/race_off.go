//go:build !race

package source

// raceEnabled is false without -race: yield is not checked, and costs
// nothing more per item. See race_on.go.
const raceEnabled = false
