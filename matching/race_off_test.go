//go:build !race

package matching

// raceEnabled says the tests run under the race detector; see raceScaled.
const raceEnabled = false
