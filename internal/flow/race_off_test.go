//go:build !race

package flow

// slack widens the bounds of the tests that compare the meters' estimates
// with the wall clock under the race detector (race_on_test.go).
const slack = 1
