//go:build race

package main

// raceDetector is true under -race, which makes SQLite (a C library
// translated to Go) some 30 times slower: the tests then use less data.
const raceDetector = true
