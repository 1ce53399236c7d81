// Command engram is the command-line companion of the engram library: a demo of the main
// job on an embedded store, synthetic dataset generation, import and export of a space as
// JSON Lines, hot backup and restore of a whole store, looking into a store (spaces,
// stats, check, query, drop) and forgetting by filter.
//
// Exit status: 0 success, 1 failure, 2 usage (exit.go).
//
// It is its own module so that the library's users never download the CLI's dependencies
// (kong for flags, progressbar, gonum/plot for the demo's chart). The repository's go.work
// lets `go run ./cmd/engram demo` work from the repository root.
package main

import "os"

type cli struct {
	Demo   demoCmd   `cmd:"" help:"Run the main job on an embedded store: batching throughput and latency, partial failures, batchers, a stream, recall, metrics, and a chart."`
	Synth  synthCmd  `cmd:"" help:"Write deterministic synthetic memories as JSON Lines to stdout."`
	Import importCmd `cmd:"" help:"Import memories from JSON Lines or PostgreSQL (--from) into a space, in batches; bad lines or rows and rejected memories are reported and skipped."`
	Export exportCmd `cmd:"" help:"Write every memory of a space as JSON Lines (store opened read-only), or to a PostgreSQL table (--to), or keep a table in sync (--sync)."`

	Spaces spacesCmd `cmd:"" help:"List the store's spaces: dimension, memories per tier, index, settings."`
	Stats  statsCmd  `cmd:"" help:"Show one space's statistics and settings, as a table or JSON."`
	Check  checkCmd  `cmd:"" help:"Verify the store's consistency (records, ID map, tiers, indexes); exit status 1 on problems."`
	Query  queryCmd  `cmd:"" help:"Recall the memories nearest to a vector or to a stored memory."`
	Drop   dropCmd   `cmd:"" help:"Delete a space and all its memories (asks first on a terminal; --yes otherwise)."`

	Backup  backupCmd  `cmd:"" help:"Write a consistent copy of a whole store (a file, or - for standard output)."`
	Restore restoreCmd `cmd:"" help:"Put a backup in place as a store, after checking it (refuses to replace a store without --force)."`
	Forget  forgetCmd  `cmd:"" help:"Forget every memory of a space a filter (--where) matches, in batches."`

	Crashtest      crashtestCmd      `cmd:"" help:"Kill a writing child with SIGKILL at random moments and check that nothing acknowledged was lost."`
	CrashtestChild crashtestChildCmd `cmd:"" hidden:"" name:"crashtest-child" help:"The crash test's writing child."`
}

func main() { os.Exit(run(os.Args[1:])) }
