// Command engram is the command-line companion of the engram library: a demo of the main
// job on an embedded store, synthetic dataset generation, import and export of a space as
// JSON Lines, and forgetting by filter.
//
// It is its own module so that the library's users never download the CLI's dependencies
// (kong for flags, progressbar, gonum/plot for the demo's chart). The repository's go.work
// lets `go run ./cmd/engram demo` work from the repository root.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
)

type cli struct {
	Demo   demoCmd   `cmd:"" help:"Run the main job on an embedded store: batching throughput and latency, partial failures, batchers, a stream, recall, metrics, and a chart."`
	Synth  synthCmd  `cmd:"" help:"Write deterministic synthetic memories as JSON Lines to stdout."`
	Import importCmd `cmd:"" help:"Import memories from JSON Lines into a space, in batches; bad lines and rejected memories are reported and skipped."`
	Export exportCmd `cmd:"" help:"Write every memory of a space as JSON Lines (store opened read-only)."`
	Forget forgetCmd `cmd:"" help:"Forget every memory of a space a filter (--where) matches, in batches."`

	Crashtest      crashtestCmd      `cmd:"" help:"Kill a writing child with SIGKILL at random moments and check that nothing acknowledged was lost."`
	CrashtestChild crashtestChildCmd `cmd:"" hidden:"" name:"crashtest-child" help:"The crash test's writing child."`
}

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("engram"),
		kong.Description("engram: an embedded memory store for Go."),
		kong.UsageOnError(),
	)
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "engram:", err)
		os.Exit(1)
	}
}
