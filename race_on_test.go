//go:build race

package engram

// raceEnabled scales real-data tests down under the race detector, which slows the
// graph build about tenfold; concurrency tests keep their size.
const raceEnabled = true
