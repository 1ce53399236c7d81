package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// dropCmd is `engram drop --path STORE --space NAME [--yes]`. On a terminal it asks for
// the space's name as confirmation; otherwise (a script, a pipe) it refuses without --yes,
// so that a mistyped command in a script cannot delete data unasked.
type dropCmd struct {
	Path  string `required:"" help:"Store file."`
	Space string `required:"" help:"Space to delete, with all its memories."`
	Yes   bool   `short:"y" help:"Do not ask for confirmation."`
}

// stdinIsTerminal reports whether standard input is a terminal to ask on (a variable for
// the tests).
var stdinIsTerminal = func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

func (c *dropCmd) Run() error {
	if !c.Yes && !stdinIsTerminal() {
		return usagef("refusing to drop space %q without --yes: standard input is not a terminal to ask on", c.Space)
	}
	store, err := openExisting(c.Path, true)
	if err != nil {
		return err
	}
	defer store.Close()
	sp, err := store.LookupSpace(c.Space)
	if err != nil {
		return err
	}
	n := sp.Len()
	if !c.Yes {
		fmt.Fprintf(os.Stderr, "Drop space %q of %s with its %d memories? This cannot be undone.\nType the space's name to confirm: ", c.Space, c.Path, n)
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != c.Space {
			if err != nil {
				fmt.Fprintln(os.Stderr)
			}
			return errors.New("not confirmed; nothing was dropped")
		}
	}
	if err := store.DropSpace(context.Background(), c.Space); err != nil {
		return err
	}
	fmt.Printf("dropped space %q of %s (%d memories)\n", c.Space, c.Path, n)
	return nil
}
