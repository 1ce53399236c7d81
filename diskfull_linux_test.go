//go:build linux

package engram

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// requireOrSkip skips the test for reason — or fails it when ENGRAM_REQUIRE_DISKFULL=1
// (set by .ci/run, which runs as root): CI must not pass these tests by skipping them.
func requireOrSkip(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("ENGRAM_REQUIRE_DISKFULL") == "1" {
		t.Fatalf("ENGRAM_REQUIRE_DISKFULL=1, but the test cannot run: %s", reason)
	}
	t.Skip(reason)
}

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory (unmounted at cleanup) and
// returns the directory. It needs root.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		requireOrSkip(t, "mounting a small file system needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		requireOrSkip(t, fmt.Sprintf("mount -t tmpfs: %v", err))
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillTo writes a filler file in dir leaving about free bytes free, and returns its path.
func fillTo(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * st.Bsize
	p := filepath.Join(dir, "filler")
	if n := avail - free; n > 0 {
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestDiskFull: a store on a file system that fills up. Concurrent writers run into the
// full disk: each failed batch fails every item with retryable STORAGE and leaves no
// trace; everything acknowledged stays readable and recallable, and Check is clean. Close
// on the full disk releases the file (a snapshot it cannot write is a non-retryable
// CLOSED wrapping STORAGE); the store reopens while the disk is still full (read-write and
// read-only) with every acknowledged memory; once space is freed, writes go on.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, 16<<20)
	path := filepath.Join(dir, "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const dim = 64
	for _, c := range []struct {
		name string
		kind IndexKind
	}{{"flat", IndexFlat}, {"graph", IndexHNSW}} {
		if _, err := s.Space(ctx, c.name, WithIndex(c.kind), WithDimension(dim)); err != nil {
			t.Fatal(err)
		}
	}
	filler := fillTo(t, dir, 2<<20)

	// Concurrent writers until the disk is full: each stops after its fifth failure.
	var mu sync.Mutex
	acked := map[string]map[string]Memory{"flat": {}, "graph": {}}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			name := []string{"flat", "graph"}[w%2]
			sp, _ := s.LookupSpace(name)
			failures := 0
			for b := 0; failures < 5 && b < 10_000; b++ {
				mems := synthetic(r, 20, dim, fmt.Sprintf("w%d-b%d-", w, b))
				res, err := sp.BatchRemember(ctx, mems)
				if err != nil {
					if CodeOf(err) != CodeStorage || !IsRetryable(err) || !errors.Is(err, syscall.ENOSPC) || res.Failed != len(mems) {
						t.Errorf("a batch on a full disk: %v (failed %d of %d), want retryable STORAGE (ENOSPC) for all", err, res.Failed, len(mems))
						return
					}
					for _, it := range res.Items {
						if CodeOf(it.Err) != CodeStorage {
							t.Errorf("item of a failed batch: %v", it.Err)
							return
						}
					}
					failures++
					continue
				}
				mu.Lock()
				for _, m := range mems {
					acked[name][m.ID] = m
				}
				mu.Unlock()
			}
			if failures < 5 {
				t.Errorf("writer %d never filled the disk", w)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("acknowledged before the disk filled: %d + %d memories", len(acked["flat"]), len(acked["graph"]))
	verify := func(s *Store, when string) {
		t.Helper()
		for name, mems := range acked {
			sp, err := s.LookupSpace(name)
			if err != nil {
				t.Fatal(err)
			}
			if sp.Len() != len(mems) {
				t.Fatalf("%s: %s holds %d memories, %d acknowledged (a failed batch left a trace?)", when, name, sp.Len(), len(mems))
			}
			n := 0
			for id, m := range mems {
				got, err := sp.Get(ctx, id)
				if err != nil || got.Content != m.Content {
					t.Fatalf("%s: Get(%s): %v", when, id, err)
				}
				if n++; n%25 == 0 {
					hits, err := sp.Recall(ctx, Query{Embedding: got.Embedding, K: 1, SimilarityOnly: true, Exact: true})
					if err != nil || len(hits) != 1 || hits[0].Memory.ID != id {
						t.Fatalf("%s: recall of %s by its own vector: %v %v", when, id, hits, err)
					}
				}
			}
		}
		if rep, err := s.Check(ctx); err != nil || !rep.OK {
			t.Fatalf("%s: Check: %v %+v", when, err, rep)
		}
	}
	verify(s, "full disk")

	// Close on the full disk: the graph changed, so Close tries to save its snapshot.
	cerr := s.Close()
	if cerr != nil && (CodeOf(cerr) != CodeClosed || IsRetryable(cerr) || !errors.Is(cerr, ErrStorage)) {
		t.Fatalf("Close on a full disk = %v, want nil or non-retryable CLOSED wrapping STORAGE", cerr)
	}
	if again := s.Close(); again != cerr {
		t.Fatalf("second Close = %v, first %v", again, cerr)
	}
	t.Logf("Close on the full disk: %v", cerr)

	// Reopen while the disk is still full.
	for _, opts := range [][]Option{{WithReadOnly()}, nil} {
		s, err = Open(path, opts...)
		if err != nil {
			t.Fatalf("Open (%d options) while the disk is full: %v", len(opts), err)
		}
		verify(s, "reopened on the full disk")
		if len(opts) == 0 {
			sp, _ := s.LookupSpace("flat")
			if _, err := sp.BatchRemember(ctx, synthetic(rand.New(rand.NewPCG(1, 1)), 200, dim, "still-full-")); CodeOf(err) != CodeStorage {
				t.Fatalf("a write on the still full disk: %v, want STORAGE", err)
			}
		}
		if err := s.Close(); err != nil && CodeOf(err) != CodeClosed {
			t.Fatal(err)
		}
	}

	// Free space: writes go on, Close succeeds, and everything is there after a reopen.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	for name := range acked {
		sp, _ := s.LookupSpace(name)
		mems := synthetic(r, 50, dim, "after-"+name+"-")
		if res, err := sp.BatchRemember(ctx, mems); err != nil || res.Failed != 0 {
			t.Fatalf("a write after space was freed: %v %v", err, res.Err())
		}
		for _, m := range mems {
			acked[name][m.ID] = m
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close with space: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	verify(s, "after space was freed")
	if sp, _ := s.LookupSpace("graph"); sp.Stats().IndexLoadedFrom != "snapshot" {
		t.Fatalf("the graph was not restored from its snapshot once the disk had room: %q", sp.Stats().IndexLoadedFrom)
	}
}

// TestReadOnlyFileSystem: a store on a file system mounted read-only opens WithReadOnly
// and answers; opening it for writing fails at once with non-retryable ACCESS wrapping
// EROFS (it was retryable STORAGE).
func TestReadOnlyFileSystem(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, 4<<20)
	path := filepath.Join(dir, "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := s.Space(ctx, "m", WithDimension(2))
	if _, err := sp.Remember(ctx, Memory{ID: "a", Embedding: unit(1, 2)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		requireOrSkip(t, fmt.Sprintf("remount read-only: %v", err))
	}
	_, err = Open(path)
	if CodeOf(err) != CodeAccess || IsRetryable(err) || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Open for writing on a read-only file system = %v, want non-retryable ACCESS (EROFS)", err)
	}
	_, err = Open(filepath.Join(dir, "new.db"))
	if CodeOf(err) != CodeAccess || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("creating a store on a read-only file system = %v, want ACCESS (EROFS)", err)
	}
	s, err = Open(path, WithReadOnly())
	if err != nil {
		t.Fatalf("Open WithReadOnly on a read-only file system: %v", err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("m")
	if _, err := sp.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}
