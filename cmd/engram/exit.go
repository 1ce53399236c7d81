package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/engram-go/engram"
)

// Exit statuses: 0 success, 1 failure, 2 usage (a flag or argument the command cannot
// work with). kong's own default for usage errors is 80; scripts expect 2, as from
// flag.Parse and most Unix tools.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a command's complaint about its flags or arguments: exit status 2.
type usageError struct {
	msg   string
	cause error // a typed error behind the complaint (a filter's INVALID_QUERY), for errors.Is/As
}

func (e usageError) Error() string { return e.msg }
func (e usageError) Unwrap() error { return e.cause }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...), cause: wrapped(args)}
}

// wrapped returns the first error among a usage message's arguments.
func wrapped(args []any) error {
	for _, a := range args {
		if err, ok := a.(error); ok {
			return err
		}
	}
	return nil
}

// kongExit carries kong's exit status (after --help, say) out of kong by panicking, so
// that run returns it instead of kong ending the process (which tests cannot survive).
type kongExit int

// run parses args, runs the command and returns the process's exit status. Errors go to
// standard error as "engram: <message>".
func run(args []string) (status int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("engram"),
		kong.Description("engram: an embedded memory store for Go."),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "engram:", err)
		return exitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			status = int(code)
			if status != exitOK {
				status = exitUsage
			}
		}
	}()
	ctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "engram: %v\n", err)
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil && pe.Context.Command() != "" {
			fmt.Fprintf(os.Stderr, "run 'engram %s --help' for usage\n", strings.Fields(pe.Context.Command())[0])
		} else {
			fmt.Fprintln(os.Stderr, "run 'engram --help' for usage")
		}
		return exitUsage
	}
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "engram:", message(err))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

// message renders an error for the terminal. The library's errors start with "engram: ",
// which the CLI's own prefix would double, and an error about a file often names it twice
// (the store's message and the operating system's "open /x/y.db: ..."): each engram error
// in the chain is rewritten without both.
func message(err error) string {
	s := err.Error()
	var walk func(error)
	walk = func(e error) { // the error tree: kong joins the errors of a command's Run
		switch x := e.(type) {
		case nil:
		case *engram.Error:
			s = strings.Replace(s, x.Error(), engramMessage(x), 1)
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return s
}

// engramMessage is an engram error as "CODE: op space=s id=\"x\": msg: cause", with the
// cause's own copy of a path the message already names left out.
func engramMessage(e *engram.Error) string {
	var b strings.Builder
	b.WriteString(e.Code.String())
	if op := e.Op.String(); op != "" {
		b.WriteString(": " + op)
	}
	if e.Space != "" {
		fmt.Fprintf(&b, " space=%s", e.Space)
	}
	if e.ID != "" {
		fmt.Fprintf(&b, " id=%q", e.ID)
	}
	msg, cause := e.Msg, ""
	if e.Err != nil {
		cause = e.Err.Error()
		var pe *fs.PathError
		if errors.As(e.Err, &pe) && pe.Path != "" && strings.Contains(msg, pe.Path) {
			cause = pe.Err.Error() // "open /x/y.db: no such file" after a message naming /x/y.db
		}
		cause = strings.TrimPrefix(cause, "engram: ")
	}
	for _, part := range []string{msg, cause} {
		if part != "" && !strings.Contains(b.String(), part) {
			b.WriteString(": " + part)
		}
	}
	return b.String()
}

// pathErr rewrites an error about a temporary file (a backup or export being written
// beside its destination) as one about the destination: the temporary name means
// nothing to the user.
func pathErr(what, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %w", what, path, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s %s: %w", what, path, le.Err)
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// mustExist refuses a store path with no file: commands that read a store must not
// create an empty one by opening it.
func mustExist(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no store at %s", path)
	case err != nil:
		return pathErr("cannot read", path, err)
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a store file", path)
	}
	return nil
}

// openExisting opens the store at path, which must exist; read-only unless write.
func openExisting(path string, write bool) (*engram.Store, error) {
	if err := mustExist(path); err != nil {
		return nil, err
	}
	if write {
		return engram.Open(path)
	}
	return engram.Open(path, engram.WithReadOnly())
}
