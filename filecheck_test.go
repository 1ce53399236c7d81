package engram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// tear overwrites bytes 16 to 80 of the page at off (the meta fields and checksum of a
// meta page), as a write torn in the middle of the page would.
func tear(b []byte, off int) []byte {
	for i := off + 16; i < off+80; i++ {
		b[i] = 0xA5
	}
	return b
}

// TestTornMetaPage: bbolt keeps two meta pages so that a torn write of one leaves the
// other; Open (read-write and read-only) accepts a store with either page torn and finds
// every memory, and refuses one with both torn as CORRUPT.
func TestTornMetaPage(t *testing.T) {
	orig, want := corruptFixture(t)
	pageSize := os.Getpagesize()
	cases := []struct {
		name  string
		pages []int
	}{
		{"page 0", []int{0}},
		{"page 1", []int{1}},
		{"both", []int{0, 1}},
	}
	for _, c := range cases {
		for _, ro := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/readonly=%v", c.name, ro), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "torn.db")
				copyWith(t, orig, p, func(b []byte) []byte {
					for _, pg := range c.pages {
						b = tear(b, pg*pageSize)
					}
					return b
				})
				var opts []Option
				if ro {
					opts = append(opts, WithReadOnly())
				}
				s, err := Open(p, opts...)
				if len(c.pages) == 2 {
					if CodeOf(err) != CodeCorrupt || IsRetryable(err) {
						t.Fatalf("both meta pages torn: Open = %v, want CORRUPT", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("one meta page torn: Open = %v; bbolt opens it from the other page", err)
				}
				defer s.Close()
				ctx := context.Background()
				for name, mems := range want {
					sp, err := s.LookupSpace(name)
					if err != nil {
						t.Fatal(err)
					}
					for id, m := range mems {
						got, err := sp.Get(ctx, id)
						if err != nil || !sameMemory(got, m) {
							t.Fatalf("Get(%s): %v", id, err)
						}
					}
				}
				if rep, err := s.Check(ctx); err != nil || !rep.OK {
					t.Fatalf("Check: %v %+v", err, rep)
				}
				if !ro { // a write commits through the intact page and rewrites the torn one
					sp, _ := s.LookupSpace("flat")
					if _, err := sp.Remember(ctx, Memory{ID: "after-tear", Embedding: make16(1)}); err != nil {
						t.Fatalf("write after a torn meta page: %v", err)
					}
				}
			})
		}
	}
}

func make16(x float32) []float32 {
	v := make([]float32, 16)
	v[0], v[1] = x, 1
	return v
}

// TestForeignBboltFileIsRefused: a bbolt database of another application is refused with a
// non-retryable CORRUPT and left byte for byte as it was, read-write or read-only; an empty
// file, an empty bbolt database and a new path become stores.
func TestForeignBboltFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("alice"), []byte("admin"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(foreign)
	stBefore, _ := os.Stat(foreign)
	for _, opts := range [][]Option{nil, {WithReadOnly()}} {
		s, err := Open(foreign, opts...)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%d options) of another application's bbolt file succeeded", len(opts))
		}
		if CodeOf(err) != CodeCorrupt || IsRetryable(err) || !strings.Contains(err.Error(), "not an engram store") {
			t.Fatalf("Open = %v, want non-retryable CORRUPT saying it is not an engram store", err)
		}
	}
	after, _ := os.ReadFile(foreign)
	stAfter, _ := os.Stat(foreign)
	if !bytes.Equal(before, after) || !stAfter.ModTime().Equal(stBefore.ModTime()) {
		t.Fatal("the foreign file was modified")
	}

	// What may become a store: an empty file, a bbolt database without buckets (a new store
	// whose first transaction never committed), a new path.
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	bare := filepath.Join(dir, "bare.db")
	db, err = bolt.Open(bare, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{empty, bare, filepath.Join(dir, "new.db")} {
		s, err := Open(p)
		if err != nil {
			t.Fatalf("Open(%s): %v", filepath.Base(p), err)
		}
		if _, err := s.Space(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if s, err = Open(p, WithReadOnly()); err != nil {
			t.Fatalf("reopen %s: %v", filepath.Base(p), err)
		}
		s.Close()
	}
}

// TestOpenHonestErrors: permanent OS conditions are ACCESS (not retryable, the OS error
// still matched by errors.Is), and none of them is reported as CORRUPT.
func TestOpenHonestErrors(t *testing.T) {
	dir := t.TempDir()
	check := func(what string, err error, target error) {
		t.Helper()
		if CodeOf(err) != CodeAccess || IsRetryable(err) || !errors.Is(err, ErrAccess) {
			t.Fatalf("%s: %v, want non-retryable ACCESS", what, err)
		}
		if target != nil && !errors.Is(err, target) {
			t.Fatalf("%s: errors.Is(err, %v) is false: %v", what, target, err)
		}
	}
	_, err := Open(filepath.Join(dir, "no", "such", "dir", "s.db"))
	check("missing directory", err, fs.ErrNotExist)
	_, err = Open(filepath.Join(dir, "missing.db"), WithReadOnly())
	check("read-only open of a missing file", err, fs.ErrNotExist)
	_, err = Open(dir)
	check("a directory", err, syscall.EISDIR)
	_, err = Open(dir, WithReadOnly())
	check("a directory, read-only", err, syscall.EISDIR)
	if _, err := os.Stat("/dev/null"); err == nil {
		_, err = Open("/dev/null")
		check("a device", err, errNotRegular)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte("x"), 0o600)
	_, err = Open(filepath.Join(notDir, "s.db"))
	check("a file used as a directory", err, nil)
}

// TestErrorClassification: the mapping from causes to codes, for conditions a test cannot
// always create (a root test user passes every permission check): permission denied and a
// read-only file system are ACCESS wherever they surface — Open's pre-flight, bbolt's open,
// a commit — a full disk stays retryable STORAGE, and the OS error stays matchable.
func TestErrorClassification(t *testing.T) {
	perm := &fs.PathError{Op: "open", Path: "/x/s.db", Err: syscall.EACCES}
	rofs := &fs.PathError{Op: "write", Path: "/x/s.db", Err: syscall.EROFS}
	full := &fs.PathError{Op: "write", Path: "/x/s.db", Err: syscall.ENOSPC}
	for _, c := range []struct {
		what   string
		err    error
		code   Code
		target error
	}{
		{"open: permission denied", openErr("/x/s.db", perm), CodeAccess, fs.ErrPermission},
		{"open: EPERM", openErr("/x/s.db", &fs.PathError{Err: syscall.EPERM}), CodeAccess, fs.ErrPermission},
		{"open: read-only file system", openErr("/x/s.db", rofs), CodeAccess, syscall.EROFS},
		{"open: missing", openErr("/x/s.db", &fs.PathError{Err: syscall.ENOENT}), CodeAccess, fs.ErrNotExist},
		{"open: I/O error", openErr("/x/s.db", &fs.PathError{Err: syscall.EIO}), CodeStorage, syscall.EIO},
		{"commit: read-only file system", storageErr(OpRemember, "s", rofs), CodeAccess, syscall.EROFS},
		{"commit: permission denied", writeErr(context.Background(), OpRemember, "s", perm), CodeAccess, fs.ErrPermission},
		{"commit: disk full", writeErr(context.Background(), OpRemember, "s", full), CodeStorage, syscall.ENOSPC},
	} {
		if CodeOf(c.err) != c.code || IsRetryable(c.err) != c.code.Retryable() || !errors.Is(c.err, c.target) {
			t.Errorf("%s: %v (code %s), want %s wrapping %v", c.what, c.err, CodeOf(c.err), c.code, c.target)
		}
	}
}
