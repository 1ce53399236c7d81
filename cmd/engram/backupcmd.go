package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/engram-go/engram"
	"golang.org/x/term"
)

// backupCmd is `engram backup --path STORE FILE|-`: Store.Backup of a store that no
// process holds open for writing (the file lock is exclusive while a writer has it; an
// application backs up its live store by calling Store.Backup itself). The store is opened
// read-only, so backups can run beside readers.
type backupCmd struct {
	Path string `required:"" help:"Store file to back up."`
	File string `arg:"" help:"Backup file (replaced only once the backup is complete), or - for standard output."`
}

func (c *backupCmd) Run() error {
	if c.File == "-" && term.IsTerminal(int(os.Stdout.Fd())) {
		return usagef("refusing to write a binary backup to a terminal: give a file, or redirect standard output")
	}
	if err := mustExist(c.Path); err != nil {
		return err
	}
	if sameFile(c.Path, c.File) {
		return usagef("the backup cannot replace the store it copies (%s)", c.Path)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	store, err := openExisting(c.Path, false)
	if err != nil {
		return err
	}
	defer store.Close()
	out, commit, err := createOutput(c.File)
	if err != nil {
		return err
	}
	n, err := store.Backup(ctx, out)
	if err := commit(err); err != nil {
		return err
	}
	name := c.File
	if name == "-" {
		name = "standard output"
	}
	spaces, memories := 0, 0
	for _, s := range store.Stats().Spaces {
		spaces++
		memories += s.Len
	}
	// The summary goes to standard error: standard output may be the backup.
	fmt.Fprintf(os.Stderr, "backed up %s (%s, %s) to %s: %s in %s\n", c.Path, plural(spaces, "space"), plural(memories, "memory"), name,
		bytesize(n), time.Since(start).Round(time.Millisecond))
	return nil
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// restoreCmd is `engram restore FILE|- --path STORE [--force]`: the backup is copied
// beside the destination, opened and checked (Store.Check), and only then renamed into
// place, atomically: a failed or interrupted restore leaves the destination as it was.
type restoreCmd struct {
	File  string `arg:"" help:"Backup file (from 'engram backup' or Store.Backup; gzip'ed or not), or - for standard input."`
	Path  string `required:"" help:"Where to put the store."`
	Force bool   `help:"Replace an existing store at --path (never one that a process has open)."`
}

func (c *restoreCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	fi, err := os.Stat(c.Path)
	exists := err == nil
	switch {
	case exists && fi.IsDir():
		return fmt.Errorf("%s is a directory, not a store file", c.Path)
	case exists && !c.Force:
		return fmt.Errorf("%s exists; pass --force to replace it", c.Path)
	case exists:
		// Never pull a store from under a process that has it open: a read-only open fails
		// with LOCKED while a writer holds it. A damaged store (CORRUPT) may be replaced.
		s, err := engram.Open(c.Path, engram.WithReadOnly(), engram.WithLockTimeout(0))
		if engram.CodeOf(err) == engram.CodeLocked {
			return fmt.Errorf("%s is in use by another process; stop it before restoring over it", c.Path)
		}
		if err == nil {
			s.Close()
		}
	case !errors.Is(err, fs.ErrNotExist):
		return pathErr("cannot use", c.Path, err)
	}
	if c.File != "-" && sameFile(c.File, c.Path) {
		return usagef("the backup and --path are the same file")
	}
	in, _, name, err := openInput(c.File)
	if err != nil {
		return err
	}
	defer in.Close()
	data, err := decompress(in)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(c.Path), "."+filepath.Base(c.Path)+".restore-*.tmp")
	if err != nil {
		return pathErr("cannot create", c.Path, err)
	}
	placed := false
	defer func() {
		if !placed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, &ctxReader{ctx, data})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; %s was not changed", c.Path)
		}
		return pathErr("cannot write", c.Path, err)
	}
	spaces, memories, err := verify(ctx, tmp.Name(), name)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.Path); err != nil {
		return pathErr("cannot write", c.Path, err)
	}
	placed = true
	if d, err := os.Open(filepath.Dir(c.Path)); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	fmt.Printf("restored %s from %s: %s, %s, %s, checked in %s\n", c.Path, name, plural(spaces, "space"), plural(memories, "memory"),
		bytesize(n), time.Since(start).Round(time.Millisecond))
	return nil
}

// verify opens the restored copy at path read-only and checks it, reporting problems as
// those of the backup called name (path is a temporary name the user never sees).
func verify(ctx context.Context, path, name string) (spaces, memories int, err error) {
	hide := func(s string) string { return strings.ReplaceAll(s, path, name) }
	s, err := engram.Open(path, engram.WithReadOnly())
	if err != nil {
		return 0, 0, fmt.Errorf("%s is not a usable engram store: %s", name, hide(message(err)))
	}
	defer s.Close()
	rep, err := s.Check(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("checking %s: %s", name, hide(message(err)))
	}
	if !rep.OK {
		var b strings.Builder
		for _, p := range rep.Problems {
			b.WriteString("\n  " + hide(p))
		}
		for _, sc := range rep.Spaces {
			for _, p := range sc.Problems {
				fmt.Fprintf(&b, "\n  %s: %s", sc.Name, p)
			}
		}
		return 0, 0, fmt.Errorf("%s fails its check; nothing was restored:%s", name, b.String())
	}
	for _, sc := range rep.Spaces {
		spaces++
		memories += sc.Records
	}
	return spaces, memories, nil
}

// ctxReader reads from r until ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
