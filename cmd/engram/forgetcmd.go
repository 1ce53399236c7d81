package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram"
)

// forgetCmd is `engram forget --path STORE --space NAME --where FILTER`: forget every
// memory of a space a filter matches (Space.ForgetWhere), in batches of one transaction
// each. The filter is engram's text form (engram.ParseFilter), e.g.
//
//	engram forget --path s.db --space notes --where 'session = "42" and created < 2025-01-01T00:00:00Z'
//
// Several --where flags are joined with "and". --dry-run counts the matches and forgets
// nothing.
type forgetCmd struct {
	Path   string   `required:"" help:"Store file."`
	Space  string   `required:"" help:"Space to forget from."`
	Where  []string `required:"" sep:"none" help:"Filter, e.g. 'cat = news and (tag = old or score < 0.2)', 'content contains \"draft\"', 'created < 2025-01-01T00:00:00Z'. Repeat to require several (joined with and). 'true' matches every memory."`
	Batch  int      `default:"1000" help:"Memories per transaction (1-100000)."`
	DryRun bool     `help:"Count the matching memories; forget nothing."`
}

// parseWhere reads the --where flags into one filter: each is engram.ParseFilter's text
// form, and several are joined with and. A filter that does not parse is a usage error
// (exit status 2), its message naming the offset.
func parseWhere(flags []string) (engram.Filter, error) {
	if len(flags) == 0 {
		return nil, fmt.Errorf("--where is required")
	}
	fs := make([]engram.Filter, len(flags))
	for i, s := range flags {
		f, err := engram.ParseFilter(s)
		if err != nil {
			return nil, usagef("--where: %v", err)
		}
		fs[i] = f
	}
	if len(fs) == 1 {
		return fs[0], nil
	}
	return engram.And(fs...), nil
}

func (c *forgetCmd) Run() error {
	if c.Batch < 1 || c.Batch > engram.DefaultLimits.MaxBatch {
		return fmt.Errorf("--batch %d is outside 1-%d", c.Batch, engram.DefaultLimits.MaxBatch)
	}
	where, err := parseWhere(c.Where)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	store, err := engram.Open(c.Path)
	if err != nil {
		return err
	}
	sp, err := store.LookupSpace(c.Space)
	if err != nil {
		store.Close()
		return err
	}
	n, verb := 0, "forgot"
	if c.DryRun {
		// Count through a predicate that never matches: the same selection, nothing forgotten.
		var seen atomic.Int64
		_, err = sp.ForgetWhere(ctx, c.Batch, engram.And(where, engram.FilterFunc(func(engram.Memory) bool {
			seen.Add(1)
			return false
		})))
		n, verb = int(seen.Load()), "would forget"
	} else {
		n, err = sp.ForgetWhere(ctx, c.Batch, where)
	}
	closeErr := store.Close()
	fmt.Printf("%s %d memories of space %q matching %s in %s\n", verb, n, c.Space, where, time.Since(start).Round(time.Millisecond))
	if err != nil {
		return err
	}
	return closeErr
}
