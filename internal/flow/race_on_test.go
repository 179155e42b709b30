//go:build race

package flow

// slack widens the bounds of the tests that compare the meters' estimates
// with the wall clock: the race detector slows the meters' own atomic
// operations and clock reads unevenly, so their cost, which the meters
// leave out, is less well known. .ci/run also runs those tests without it.
const slack = 2
