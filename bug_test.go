package engram

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-go/engram/index"
)

// Regression tests for library bugs found by TestStress, each reduced to a minimal
// reproduction (they failed before the fixes).

// TestBugHNSWReadsDirectoryBeforeHigh: two readers of the HNSW graph panic with "index out
// of range" when an insert grows the graph at the same time:
//
//   - HNSW.MemoryBytes (index/hnsw.go), called by Space.Stats, Store.Stats, Store.Expvar;
//   - HNSW.exact (index/hnsw_search.go), the scan behind Search with Exact (Query.Exact)
//     and behind a filtered search that falls back to it.
//
// Both loaded the block directory (g.dir) first and read g.high under g.mu after. An Add in
// between (alloc raises high and appends blocks, under g.mu) leaves high beyond the blocks
// of the stale directory, so dir[id>>blockShift] is out of range. This happens on the first
// insert into an empty graph (a directory of 0 blocks) and whenever an insert crosses a
// 1024-node block boundary. In an engram program: Space.Stats, or a Recall with Exact, on
// an HNSW space racing its first Remember (or the Remember that creates its 1025th, 2049th,
// ... node) crashes the process. TestStress hit each about once in eight runs under -race
// (a reader on hnsw-b right after the space was dropped and re-created).
//
// The fix: read high under g.mu before loading the directory, as Stats, Verify, Compact and
// MarshalBinary do (every block a node below high lives in is published before g.mu is
// released), or look blocks up with g.block, which reloads a stale directory.
func TestBugHNSWReadsDirectoryBeforeHigh(t *testing.T) {
	const dim, n = 8, 1100 // one Add spanning two blocks
	r := rand.New(rand.NewPCG(1, 2))
	vecs := make([]float32, 0, n*dim)
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i + 1)
		vecs = append(vecs, randUnit(r, dim)...)
	}
	q := randUnit(r, dim)
	for _, tc := range []struct {
		name string
		read func(g *index.HNSW)
	}{
		{"MemoryBytes", func(g *index.HNSW) { g.MemoryBytes() }},
		{"ExactSearch", func(g *index.HNSW) { g.Search(q, 3, index.SearchOptions{Exact: true, MinSimilarity: -1}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Readers call tc.read in a loop while one Add grows a fresh graph; a few rounds
			// suffice (the first round fails on the 2-core machine, with or without -race).
			deadline := time.Now().Add(time.Second)
			var panicked atomic.Value
			for round := 0; time.Now().Before(deadline) && panicked.Load() == nil; round++ {
				g := index.NewHNSW(dim, index.HNSWConfig{M: 4, EfConstruction: 8})
				var stop atomic.Bool
				var wg sync.WaitGroup
				for range 2 {
					wg.Go(func() {
						defer func() {
							if p := recover(); p != nil {
								panicked.CompareAndSwap(nil, fmt.Sprintf("round %d: %v", round, p))
							}
						}()
						for !stop.Load() {
							tc.read(g)
						}
					})
				}
				time.Sleep(100 * time.Microsecond) // let the readers start
				if err := g.Add(keys, vecs); err != nil {
					t.Fatal(err)
				}
				stop.Store(true)
				wg.Wait()
			}
			if p := panicked.Load(); p != nil {
				t.Fatalf("HNSW.%s during an Add that grows the graph panicked: %v", tc.name, p)
			}
		})
	}
}

// TestBugConcurrentCloseReturnsEarly: Store.Close called while another Close is running
// returns nil at once, before the store is closed: the file is still held (an Open of it
// fails with LOCKED), and the first Close may still be writing (access statistics, graph
// snapshots). Close checks gate.isClosed (and then gate.close's result) and returns when
// the gate is already closed, without waiting for the Close that closed it. So with
// `defer store.Close()` and a shutdown hook that also calls Close, the program can exit, or
// reopen the file, while the first Close is mid-way. Minor (everything acknowledged is
// durable already), but "Close ... releases the file" does not hold for the second caller.
// The fix: make Close idempotent with a sync.Once-like guard whose later callers wait for
// the first and return its result.
func TestBugConcurrentCloseReturnsEarly(t *testing.T) {
	path := t.TempDir() + "/close.db"
	s := openHooked(t, path)
	sp := mustSpace(t, s, "g", WithDimension(4), WithIndex(IndexHNSW))
	mustStore(t, sp, []Memory{{Embedding: unit(1, 2, 3, 4)}}) // Close will save a snapshot
	hold, inside := make(chan struct{}), make(chan struct{})
	var once sync.Once
	setCommitHook(s, func(int) error { // runs in Close's snapshot transaction
		once.Do(func() { close(inside); <-hold })
		return nil
	})
	first := make(chan error, 1)
	go func() { first <- s.Close() }()
	<-inside // the first Close is writing the snapshot
	second := make(chan error, 1)
	go func() { second <- s.Close() }()
	var early bool
	select {
	case <-second:
		early = true
		// The store is not closed: its file is still locked.
		if s2, err := Open(path, WithLockTimeout(0)); err == nil {
			s2.Close()
		} else {
			t.Logf("Open after the second Close returned: %v", err)
		}
	case <-time.After(200 * time.Millisecond):
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if early {
		t.Fatal("a Close racing another Close returned before the store was closed")
	}
	<-second
}
