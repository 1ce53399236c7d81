package engram

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentWritersAndReaders runs writers, upserts, forgets and recalls on several
// spaces at once (meant for -race), then checks that disk, index and counters agree.
func TestConcurrentWritersAndReaders(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync()) // fsync adds nothing to a race test but time
	const spaces, writers, readers, batches, dim = 4, 3, 3, 15, 16
	var wg, writersWG sync.WaitGroup
	var recalls atomic.Int64
	stop := make(chan struct{})
	for si := 0; si < spaces; si++ {
		sp := mustSpace(t, s, fmt.Sprintf("s%d", si), WithDimension(dim))
		for w := 0; w < writers; w++ {
			writersWG.Add(1)
			go func() {
				defer writersWG.Done()
				r := rand.New(rand.NewPCG(uint64(si), uint64(w)))
				for b := 0; b < batches; b++ {
					mems := synthetic(r, 20, dim, fmt.Sprintf("w%d-", w))
					for i := range mems { // IDs repeat across batches: upserts
						mems[i].ID = fmt.Sprintf("w%d-%d", w, r.IntN(60))
					}
					dedup(mems)
					if res, err := sp.BatchRemember(ctx, mems); err != nil || res.Err() != nil {
						t.Errorf("remember: %v %v", err, res.Err())
						return
					}
					if b%4 == 3 {
						if _, err := sp.Forget(ctx, fmt.Sprintf("w%d-%d", w, r.IntN(60))); err != nil {
							t.Errorf("forget: %v", err)
						}
					}
				}
			}()
		}
		for rd := 0; rd < readers; rd++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(si), 100+uint64(rd)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					hits, err := sp.Recall(ctx, Query{Embedding: randUnit(r, dim), K: 5, MinSimilarity: -1, Tags: []string{"t1"}})
					if err != nil {
						t.Errorf("recall: %v", err)
						return
					}
					for _, h := range hits {
						if len(h.Memory.Embedding) != dim || h.Memory.Tags[0] != "t1" {
							t.Errorf("bad hit %+v", h.Memory)
						}
					}
					sp.Stats()
					recalls.Add(1)
				}
			}()
		}
	}
	// A flusher racing the rest.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				if err := s.Sync(); err != nil {
					t.Errorf("sync: %v", err)
				}
			}
		}
	}()
	writersDone := make(chan struct{})
	go func() { writersWG.Wait(); close(writersDone) }()
	select {
	case <-writersDone:
	case <-time.After(2 * time.Minute):
		t.Fatal("writers did not finish: deadlock?")
	}
	close(stop)
	wg.Wait()
	if recalls.Load() == 0 {
		t.Fatal("no recall ran")
	}
	for si := 0; si < spaces; si++ {
		sp, _ := s.LookupSpace(fmt.Sprintf("s%d", si))
		n := 0
		for m, err := range sp.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Exact: true})
			if err != nil || len(hits) == 0 || hits[0].Similarity < 0.9999 {
				t.Fatalf("%s: stored memory %s not found by its own vector: %v %v", sp.Name(), m.ID, hits, err)
			}
			n++
		}
		if st := sp.Stats(); st.Len != n || st.IndexLen != n {
			t.Fatalf("%s: disk holds %d, counters %d, index %d", sp.Name(), n, st.Len, st.IndexLen)
		}
	}
}

// dedup gives repeated IDs within one batch fresh suffixes.
func dedup(mems []Memory) {
	seen := map[string]bool{}
	for i := range mems {
		for seen[mems[i].ID] {
			mems[i].ID += "x"
		}
		seen[mems[i].ID] = true
	}
}
