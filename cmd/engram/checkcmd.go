package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// checkCmd is `engram check --path STORE [--json] [--repair]`: Store.Check on a store
// opened read-only (for writing with --repair). Exit status 1 when it finds a problem (or cannot open the store).
type checkCmd struct {
	Path   string `required:"" help:"Store file."`
	JSON   bool   `name:"json" help:"Print the report (engram.CheckReport) as JSON."`
	Repair bool   `help:"Open the store for writing and, when the check finds damage, run Store.Repair (rebuilds damaged ID maps and records trees from the records, quarantining what it replaces), then check again."`
}

func (c *checkCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	store, err := openExisting(c.Path, c.Repair)
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := store.Check(ctx)
	if err != nil {
		return err
	}
	if c.Repair && !rep.OK {
		if rep, err = c.repair(ctx, store, rep); err != nil {
			return err
		}
	}
	problems := len(rep.Problems)
	for _, sc := range rep.Spaces {
		problems += sc.ProblemCount
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SPACE\tRECORDS\tIDS\tHOT\tWARM\tCOLD\tINDEX\tPROBLEMS")
		for _, sc := range rep.Spaces {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", sc.Name, sc.Records, sc.IDs,
				sc.Tiers[tier.Hot], sc.Tiers[tier.Warm], sc.Tiers[tier.Cold], sc.IndexLen, sc.ProblemCount)
		}
		tw.Flush()
		for _, p := range rep.Problems {
			fmt.Println("  file:", p)
		}
		for _, sc := range rep.Spaces {
			for _, p := range sc.Problems {
				fmt.Printf("  %s: %s\n", sc.Name, p)
			}
			if more := sc.ProblemCount - len(sc.Problems); more > 0 {
				fmt.Printf("  %s: ... and %d more\n", sc.Name, more)
			}
		}
		if rep.OK {
			fmt.Printf("ok: %s checked in %s\n", plural(len(rep.Spaces), "space"), rep.Elapsed.Round(time.Millisecond))
		}
	}
	if !rep.OK {
		return fmt.Errorf("%s: %s found", c.Path, plural(problems, "problem"))
	}
	return nil
}

// repair runs Store.Repair after a check that found problems, says what it did (on
// standard error, so --json keeps standard output one report), and checks again: the
// report returned is the second check's, so the exit status says whether the store is now
// sound.
func (c *checkCmd) repair(ctx context.Context, store *engram.Store, before engram.CheckReport) (engram.CheckReport, error) {
	rr, err := store.Repair(ctx)
	if err != nil {
		return before, err
	}
	if len(rr.Spaces) == 0 {
		fmt.Fprintln(os.Stderr, "repair: nothing Repair can rebuild (the problems are in what Open rebuilds itself, or in records, which carry checksums)")
	}
	for _, sr := range rr.Spaces {
		fmt.Fprintf(os.Stderr, "repair: %s: %s, %d records copied, %d ID entries rebuilt, %d older duplicates deleted, set aside in %v\n",
			sr.Name, plural(sr.Problems, "problem"), sr.Records, sr.Entries, sr.Duplicates, sr.Quarantined)
	}
	return store.Check(ctx)
}
