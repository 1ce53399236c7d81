package engram

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/engram-go/engram/vector"
)

// corruptFixture builds a store with an exact and a graph space (with its snapshot) and
// returns its path and the memories by space and ID, as the store should return them.
func corruptFixture(t *testing.T) (string, map[string]map[string]Memory) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orig.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]Memory{}
	r := rand.New(rand.NewPCG(21, 21))
	for _, sc := range []struct {
		name string
		kind IndexKind
	}{{"flat", IndexFlat}, {"graph", IndexHNSW}} {
		sp := mustSpace(t, s, sc.name, WithIndex(sc.kind))
		mems := synthetic(r, 300, 16, sc.name)
		mustStore(t, sp, mems)
		want[sc.name] = map[string]Memory{}
		for _, m := range mems {
			m.Embedding = slices.Clone(m.Embedding)
			vector.Normalize(m.Embedding)
			want[sc.name][m.ID] = m
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// sameMemory reports whether got is the stored memory want (statistics aside).
func sameMemory(got, want Memory) bool {
	return got.ID == want.ID && got.Content == want.Content && slices.Equal(got.Embedding, want.Embedding) &&
		got.Conf() == want.Conf() && got.CreatedAt.Equal(want.CreatedAt) && reflect.DeepEqual(got.Metadata, want.Metadata) &&
		slices.Equal(got.Tags, want.Tags)
}

// exercise opens a damaged copy and uses it every way a caller would. Whatever it returns
// must be either a typed engram error or exactly the data that was stored; it must not
// panic or hang. The answers must also agree with each other — a memory Get does not
// find is neither listed nor recalled, no ID is listed or recalled twice — and a write
// must either fail with a typed error or do exactly what it says: storing an existing ID
// replaces it (one memory with the ID afterwards), Forget of a found ID forgets it, and
// neither makes another memory unreadable.
func exercise(t *testing.T, path string, want map[string]map[string]Memory) (opened bool) {
	t.Helper()
	ctx := context.Background()
	typed := func(what string, err error) {
		if err != nil && CodeOf(err) == CodeUnknown {
			t.Fatalf("%s: untyped error %v", what, err)
		}
	}
	s, err := Open(path, WithLockTimeout(0), WithAccessFlushInterval(0))
	typed("open", err)
	if err != nil {
		return false
	}
	defer s.Close()
	if _, err := s.Check(ctx); err != nil {
		typed("check", err)
	}
	for name, mems := range want {
		sp, err := s.LookupSpace(name)
		if err != nil {
			continue // a damaged name: the space is gone, which Check reports
		}
		var again, gone string // the IDs written below
		// listed returns how often All lists each ID, and whether it listed everything.
		listed := func() (map[string]int, bool) {
			n := map[string]int{}
			for m, err := range sp.All(ctx) {
				typed("scan", err)
				if err != nil {
					return n, false
				}
				if w, ok := mems[m.ID]; m.ID != again && (!ok || !sameMemory(m, w)) {
					t.Fatalf("scan of %s returned a memory that was not stored: %+v", name, m)
				}
				if n[m.ID]++; n[m.ID] > 1 {
					t.Fatalf("scan of %s lists %s twice", name, m.ID)
				}
			}
			return n, true
		}
		all, complete := listed()
		found, missing := map[string]bool{}, map[string]bool{}
		n := 0
		for id, w := range mems {
			if n++; n > 40 {
				break
			}
			got, err := sp.Get(ctx, id)
			typed("get", err)
			switch {
			case err == nil && !sameMemory(got, w):
				t.Fatalf("Get(%s) returned different data: %+v", id, got)
			case err == nil:
				found[id] = true
			case errors.Is(err, ErrNotFound):
				missing[id] = true
				if all[id] > 0 {
					t.Fatalf("Get(%s) says NOT_FOUND, and All lists it", id)
				}
			}
			hits, err := sp.Recall(ctx, Query{Embedding: w.Embedding, K: 3, MinSimilarity: -1})
			typed("recall", err)
			seen := map[string]bool{}
			for _, h := range hits {
				if ow, ok := mems[h.Memory.ID]; !ok || !sameMemory(h.Memory, ow) {
					t.Fatalf("Recall returned a memory that was not stored: %+v", h.Memory)
				}
				if seen[h.Memory.ID] {
					t.Fatalf("Recall returned %s twice", h.Memory.ID)
				}
				seen[h.Memory.ID] = true
			}
		}
		for id := range missing { // recalled by its own vector only if Get finds it
			hits, _ := sp.Recall(ctx, Query{Embedding: mems[id].Embedding, K: 1, MinSimilarity: -1})
			if len(hits) == 1 && hits[0].Memory.ID == id {
				t.Fatalf("Get(%s) says NOT_FOUND, and Recall returns it", id)
			}
		}
		// Writes: store a found ID again, forget another.
		for id := range found {
			if again == "" {
				again = id
			} else if gone == "" {
				gone = id
			}
		}
		if gone == "" {
			continue
		}
		res, err := sp.BatchRemember(ctx, []Memory{{ID: again, Embedding: mems[again].Embedding, Content: "again"}})
		typed("remember", err)
		if err == nil && res.Items[0].Err == nil && !res.Items[0].Replaced {
			t.Fatalf("storing the existing ID %s again did not replace it", again)
		}
		forgot, err := sp.Forget(ctx, gone)
		typed("forget", err)
		if err == nil {
			if forgot != 1 {
				t.Fatalf("Forget(%s), which Get finds, forgot %d", gone, forgot)
			}
			if _, err := sp.Get(ctx, gone); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(%s) after Forget: %v", gone, err)
			}
		}
		for id := range found { // the writes made no other memory unreadable
			if id == again || id == gone {
				continue
			}
			if got, err := sp.Get(ctx, id); err != nil || !sameMemory(got, mems[id]) {
				t.Fatalf("Get(%s), found before two writes, after them: %v", id, err)
			}
		}
		if after, ok := listed(); complete && ok && after[again] != 1 {
			t.Fatalf("after storing %s again, All lists it %d times", again, after[again])
		}
	}
	return true
}

func copyWith(t *testing.T, src, dst string, damage func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, damage(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedStoreFiles: truncated, zeroed and bit-flipped store files give typed errors
// or correct data, never a panic or a silently wrong answer.
func TestDamagedStoreFiles(t *testing.T) {
	orig, want := corruptFixture(t)
	dir := t.TempDir()
	st, _ := os.Stat(orig)
	size := int(st.Size())
	r := rand.New(rand.NewPCG(8, 8))
	trials := 60
	if raceEnabled || testing.Short() {
		trials = 15
	}
	deadline := time.Now().Add(2 * time.Minute)
	opened := 0
	run := func(name string, damage func([]byte) []byte) {
		if time.Now().After(deadline) {
			t.Fatal("damaged-file matrix took too long: a hang?")
		}
		p := filepath.Join(dir, name+".db")
		copyWith(t, orig, p, damage)
		t.Run(name, func(t *testing.T) {
			if exercise(t, p, want) {
				opened++
			}
		})
	}
	for _, n := range []int{0, 100, 4096, 8192, size / 2, size - 4096, size - 1} {
		run(fmt.Sprintf("trunc-%d", n), func(b []byte) []byte { return b[:n] })
	}
	for i := 0; i < trials; i++ {
		page := r.IntN(size / 4096)
		run(fmt.Sprintf("zero-%d", i), func(b []byte) []byte {
			clear(b[page*4096 : min(len(b), (page+1)*4096)])
			return b
		})
	}
	for i := 0; i < trials; i++ {
		flips := 1 + r.IntN(30)
		run(fmt.Sprintf("flip-%d", i), func(b []byte) []byte {
			for j := 0; j < flips; j++ {
				b[r.IntN(len(b))] ^= 1 << r.IntN(8)
			}
			return b
		})
	}
	// Damage aimed at the ID maps, the one structure without a checksum: random flips and
	// zeroed pages within their pages.
	var mapPages []boltPage
	for _, space := range []string{"flat", "graph"} {
		mapPages = append(mapPages, bucketPages(t, orig, spaceBucket(space, kindIDs))...)
	}
	for i := 0; i < trials; i++ {
		pg := mapPages[r.IntN(len(mapPages))]
		flips := 1 + r.IntN(8)
		zero := i%5 == 4
		run(fmt.Sprintf("idmap-%d", i), func(b []byte) []byte {
			if zero {
				clear(b[pg.off : pg.off+4096])
				return b
			}
			for j := 0; j < flips; j++ {
				b[pg.off+r.IntN(4096)] ^= 1 << r.IntN(8)
			}
			return b
		})
	}
	t.Logf("%d damaged copies, %d opened (the others failed with typed errors)", 7+3*trials, opened)
}

// TestDamagedSnapshotIsRebuilt: a damaged graph snapshot is detected and the graph rebuilt
// from the records, whatever the damage.
func TestDamagedSnapshotIsRebuilt(t *testing.T) {
	orig, want := corruptFixture(t)
	r := rand.New(rand.NewPCG(5, 1))
	for i := 0; i < 10; i++ {
		p := filepath.Join(t.TempDir(), "s.db")
		copyWith(t, orig, p, func(b []byte) []byte { return b })
		s, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.update(context.Background(), func(tx *boltTx) error {
			sb := tx.Bucket(spaceBucket("graph", kindSnapshot))
			c := sb.Get([]byte{0, 0, 0, 0})
			bad := slices.Clone(c)
			switch i % 3 {
			case 0:
				bad[r.IntN(len(bad))] ^= 0x20
			case 1:
				bad = bad[:r.IntN(len(bad))]
			default:
				clear(bad[r.IntN(len(bad)/2):])
			}
			return sb.Put([]byte{0, 0, 0, 0}, bad)
		}); err != nil {
			t.Fatal(err)
		}
		sp, _ := s.LookupSpace("graph")
		sp.snapChanges = sp.idx.(interface{ Changes() uint64 }).Changes() // keep the damaged one at Close
		s.Close()
		s, err = Open(p)
		if err != nil {
			t.Fatalf("trial %d: %v", i, err)
		}
		sp, _ = s.LookupSpace("graph")
		if st := sp.Stats(); st.IndexLoadedFrom != "records" || st.IndexLen != 300 {
			t.Fatalf("trial %d: %+v", i, st)
		}
		if rep, err := s.Check(context.Background()); err != nil || !rep.OK {
			t.Fatalf("trial %d: check %v %+v", i, err, rep)
		}
		s.Close()
		if !exercise(t, p, want) {
			t.Fatal("could not reopen")
		}
	}
}

func TestCheckFindsInconsistencies(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "c")
	mustStore(t, sp, synthetic(rand.New(rand.NewPCG(2, 3)), 50, 8, "c"))
	rep, err := s.Check(ctx)
	if err != nil || !rep.OK || rep.Spaces[0].Records != 50 || rep.Spaces[0].IDs != 50 || rep.Spaces[0].IndexLen != 50 {
		t.Fatalf("healthy store: %v %+v", err, rep)
	}
	// Damage the ID map, the index and a record behind the store's back.
	s.update(ctx, func(tx *boltTx) error {
		b, _ := openSpaceTx(tx, &sp.names)
		b.ids.Put([]byte("ca0"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
		k, v := b.recs.Cursor().Last()
		bad := slices.Clone(v)
		bad[len(bad)-10] ^= 1
		return b.recs.Put(slices.Clone(k), bad)
	})
	_, idx, _ := sp.state()
	idx.Delete(2)
	sc, err := sp.Check(ctx)
	if err != nil || sc.ProblemCount < 3 {
		t.Fatalf("damaged space: %v %+v", err, sc)
	}
	t.Logf("problems found: %q", sc.Problems)
	// The damage Check found in the ID map makes the space read through a map rebuilt
	// from the records (Get finds the right memory) and refuse writes until Repair.
	if m, err := sp.Get(ctx, "ca0"); err != nil || m.ID != "ca0" {
		t.Fatalf("Get through a damaged ID map: %v", err)
	}
	if _, err := sp.Remember(ctx, Memory{ID: "new", Embedding: randUnit(rand.New(rand.NewPCG(1, 1)), 8)}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a write to a space Check found damaged: %v, want CORRUPT", err)
	}
}
