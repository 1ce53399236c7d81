//go:build race

package index

// raceEnabled scales the recall tests down under the race detector, which slows the
// graph build about tenfold; the concurrency tests keep their size.
const raceEnabled = true
