package engram

import (
	"context"
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

// TestBugStreamRepeatedIDInOneBatch: a Stream acknowledged a memory with DUPLICATE_ID
// ("same ID as item k of this batch") when it sent an ID that an earlier memory, still in
// the batch the stream was forming, had: the stream put both in one BatchRemember call,
// whose validation refuses an ID twice. Whether a repeated ID failed thus depended on
// timing alone — which memories a worker happened to gather within MaxDelay — though the
// caller never formed that batch. TestStress hit it once under -race (stream ack on
// auto-a: DUPLICATE_ID for s-20, s-21, s-22): its streamer cycles 40 IDs for batches of at
// most 8, but advances the cycle on every refused Send too, so a FailFast stream whose
// worker stalled while the sender collected 35+ BACKPRESSURE refusals sent s-20 again into
// the batch still holding the first s-20.
//
// The fix: a Stream's (and a Batcher's) batch ends before a memory repeating one of its
// IDs, which starts the next batch; the repeat is an upsert stored after the earlier one.
func TestBugStreamRepeatedIDInOneBatch(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "st", WithDimension(2))
	// A long MaxDelay: the worker gathers everything sent below into one batch (Close ends
	// the wait), as a stalled worker does under load.
	st := sp.NewStream(StreamOptions{QueueSize: 16, MaxItems: 8, MaxDelay: time.Minute})
	sends := []Memory{
		{ID: "a", Content: "a1", Embedding: unit(1, 0)},
		{ID: "b", Content: "b1", Embedding: unit(0, 1)},
		{ID: "a", Content: "a2", Embedding: unit(1, 1)},
		{Content: "generated", Embedding: unit(1, 2)},
		{Content: "generated", Embedding: unit(1, 3)},
		{ID: "b", Content: "b2", Embedding: unit(2, 1)},
		{ID: "a", Content: "a3", Embedding: unit(1, 4)},
	}
	for i, m := range sends {
		if seq, err := st.Send(ctx, m); err != nil || seq != uint64(i) {
			t.Fatalf("Send %d: seq %d, %v", i, seq, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var i int
	for a := range st.Acks() {
		if a.Seq != uint64(i) || a.Err != nil || (sends[i].ID != "" && a.ID != sends[i].ID) {
			t.Errorf("ack %d: %+v, want seq %d stored as %q", i, a, i, sends[i].ID)
		}
		i++
	}
	if i != len(sends) {
		t.Fatalf("%d acks for %d sends", i, len(sends))
	}
	for id, want := range map[string]string{"a": "a3", "b": "b2"} { // the last sent wins
		if m, err := sp.Get(ctx, id); err != nil || m.Content != want {
			t.Errorf("Get(%s): %q, %v; want %q", id, m.Content, err, want)
		}
	}
	if n := sp.Len(); n != 4 {
		t.Errorf("Len %d, want 4 (a, b and two generated IDs)", n)
	}
}

// TestBugBatcherRepeatedIDInOneBatch: the Batcher form of the bug above — of two callers
// remembering one ID, one failed with DUPLICATE_ID when both landed in the same flush.
func TestBugBatcherRepeatedIDInOneBatch(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "bt", WithDimension(2))
	b := sp.NewBatcher(BatcherOptions{MaxItems: 4, MaxDelay: time.Minute})
	mems := []Memory{
		{ID: "a", Content: "a1", Embedding: unit(1, 0)},
		{ID: "b", Content: "b1", Embedding: unit(0, 1)},
		{ID: "a", Content: "a2", Embedding: unit(1, 1)},
		{ID: "c", Content: "c1", Embedding: unit(1, 2)},
	}
	errs := make([]error, len(mems))
	done := make([]chan struct{}, len(mems))
	var wg sync.WaitGroup
	for i, m := range mems {
		done[i] = make(chan struct{})
		wg.Go(func() {
			defer close(done[i])
			var id string
			id, errs[i] = b.Remember(ctx, m)
			if errs[i] == nil && id != m.ID {
				errs[i] = fmt.Errorf("stored as %q", id)
			}
		})
		if i == len(mems)-1 {
			break // the fourth fills the batch (MaxItems) and flushes it
		}
		// Queue in this order: each caller is queued before the next starts.
		for deadline := time.Now().Add(10 * time.Second); b.Len() < i+1; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Remember %d not queued", i)
			}
		}
	}
	<-done[0] // the full batch was flushed
	<-done[1]
	// The memory cut off by the repeat starts a batch of its own, flushed by Close.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Remember %d (%s): %v", i, mems[i].ID, err)
		}
	}
	if m, err := sp.Get(ctx, "a"); err != nil || m.Content != "a2" {
		t.Errorf("Get(a): %q, %v; want the later a2", m.Content, err)
	}
	if n := sp.Len(); n != 3 {
		t.Errorf("Len %d, want 3", n)
	}
}
