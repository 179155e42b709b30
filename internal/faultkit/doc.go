// Package faultkit holds what conveyor's fault suites, internal/chaos and
// internal/connchaos, share: the seeded generator a run draws its pipeline
// and faults from ([Rand], [NewRand], [Splitmix], [Mix]), how a run ended
// ([Ending], [EndingOf]), and what a report of a failing run needs
// ([Stacks], [Clip]).
//
// A seed printed by a suite must replay the same run in any later version
// of it, so the draws of [NewRand] are fixed: rand_test.go pins them.
package faultkit
