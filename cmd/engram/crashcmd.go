package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/engram-go/engram/internal/crashtest"
)

// crashtestCmd runs the crash harness: a child writes through every write path and logs
// each acknowledgement to an fsync'd side log; this process SIGKILLs it at random moments,
// reopens the store and checks that nothing acknowledged was lost, no batch is partly
// present, and the index holds exactly the stored memories.
type crashtestCmd struct {
	Trials     int           `default:"10" help:"Kill/reopen cycles."`
	Dim        int           `default:"16" help:"Embedding dimension."`
	Min        time.Duration `default:"100ms" help:"Shortest time before a kill."`
	Max        time.Duration `default:"800ms" help:"Longest time before a kill."`
	StartAcks  int           `default:"200" name:"start-acks" help:"Start the time before a kill only once the child has logged this many acknowledgements in the trial (0: from its start), so a slow start on a loaded machine still leaves it time to write."`
	Seed       uint64        `default:"1" help:"Seed of the kill times."`
	CloseEvery int           `default:"3" help:"Every Nth trial, the child closes its store before the kill, which then lands during or after Close (0: never)."`
	Dir        string        `help:"Directory for the store and the log (default: a temporary one, removed on success)."`
	Quiet      bool          `help:"Print only the summary line."`
}

func (c *crashtestCmd) Run() error {
	dir, cleanup := c.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "engram-crashtest")
		if err != nil {
			return err
		}
		dir, cleanup = d, true
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := crashtest.Run(crashtest.Config{
		Dir: dir, Trials: c.Trials, Dim: c.Dim, MinRun: c.Min, MaxRun: c.Max, StartAcks: c.StartAcks, Seed: c.Seed, CloseEvery: c.CloseEvery,
		Child: func(cc crashtest.ChildConfig) *exec.Cmd {
			return exec.Command(exe, "crashtest-child", "--store", cc.Store, "--log", cc.Log,
				"--dim", strconv.Itoa(cc.Dim), "--run", strconv.Itoa(cc.Run), "--close-at", cc.CloseAt.String())
		},
		Progress: func(t int, s crashtest.Summary) {
			if !c.Quiet {
				fmt.Printf("trial %3d: %d acknowledged memories checked, %d violations\n", t, s.Acknowledged, s.Violations())
			}
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s elapsed=%s\n", sum, time.Since(start).Round(100*time.Millisecond))
	if sum.Violations() > 0 {
		for _, d := range sum.Details {
			fmt.Println("  ", d)
		}
		return fmt.Errorf("%d violations; store and log kept in %s", sum.Violations(), dir)
	}
	if cleanup {
		os.RemoveAll(dir)
	}
	return nil
}

// crashtestChildCmd is the writing child (not for direct use).
type crashtestChildCmd struct {
	Store   string        `required:""`
	Log     string        `required:""`
	Dim     int           `default:"16"`
	Trial   int           `name:"run" default:"1"`
	CloseAt time.Duration `name:"close-at" default:"0s"`
}

func (c *crashtestChildCmd) Run() error {
	return crashtest.RunChild(context.Background(), crashtest.ChildConfig{Store: c.Store, Log: c.Log, Dim: c.Dim, Run: c.Trial, CloseAt: c.CloseAt})
}
