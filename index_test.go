package engram

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/engram-go/engram/index"
	bolt "go.etcd.io/bbolt"
)

// glove loads the real-data fixture (testdata/glove-8k.bin, format in bench/fixture.go):
// base vectors, queries, and each query's exact 10th-best score.
func glove(t testing.TB) (dim int, base, queries []float32, kth []float32) {
	t.Helper()
	b, err := os.ReadFile("testdata/glove-8k.bin")
	if err != nil {
		t.Fatal(err)
	}
	if crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		t.Fatal("fixture checksum")
	}
	u := func(off int) int { return int(binary.LittleEndian.Uint32(b[off:])) }
	dim, nb, nq, k := u(12), u(16), u(20), u(24)
	f := func(off, n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*i:]))
		}
		return out
	}
	off := 40
	base = f(off, nb*dim)
	off += 4 * nb * dim
	queries = f(off, nq*dim)
	off += 4*nq*dim + 4*nq*k
	scores := f(off, nq*k)
	kth = make([]float32, nq)
	for i := range kth {
		kth[i] = scores[i*k+9]
	}
	if raceEnabled { // the graph build is ~10× slower under -race
		nb = 2000
		base = base[:nb*dim]
		kth = nil // recompute against the smaller base
	}
	return dim, base, queries, kth
}

// rememberRows stores rows of base as memories with IDs "r<row>".
func rememberRows(t testing.TB, sp *Space, dim int, base []float32, from, to int) {
	t.Helper()
	for off := from; off < to; off += 1000 {
		end := min(off+1000, to)
		mems := make([]Memory, 0, end-off)
		for i := off; i < end; i++ {
			mems = append(mems, Memory{ID: "r" + itoa(i), Embedding: base[i*dim : (i+1)*dim]})
		}
		mustStore(t, sp, mems)
	}
}

// spaceRecall is recall@10 of sp against exact answers over the first n base rows.
func spaceRecall(t testing.TB, sp *Space, dim int, base, queries, kth []float32, q Query) float64 {
	t.Helper()
	ctx := context.Background()
	nq := len(queries) / dim
	if kth == nil {
		kth = make([]float32, nq)
		for i := range kth {
			exact, err := sp.Recall(ctx, Query{Embedding: queries[i*dim : (i+1)*dim], K: 10, Exact: true, MinSimilarity: -1, SimilarityOnly: true})
			if err != nil || len(exact) < 10 {
				t.Fatalf("exact recall: %v", err)
			}
			kth[i] = exact[9].Similarity
		}
	}
	hits := 0
	for i := 0; i < nq; i++ {
		q.Embedding = queries[i*dim : (i+1)*dim]
		q.K, q.MinSimilarity = 10, -1
		res, err := sp.Recall(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res {
			if h.Similarity >= kth[i]-1e-5 {
				hits++
			}
		}
	}
	return float64(hits) / float64(nq*10)
}

// TestHNSWSpaceOnRealData: a space switches from the exact index to the graph at its
// threshold, keeps recall@10 ≥ 0.95 at the default breadth, and saves, reloads and
// reconciles its graph snapshot.
func TestHNSWSpaceOnRealData(t *testing.T) {
	ctx := context.Background()
	dim, base, queries, kth := glove(t)
	n := len(base) / dim
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sp := mustSpace(t, s, "glove", WithHNSWThreshold(n/2))
	rememberRows(t, sp, dim, base, 0, n/2-1)
	if st := sp.Stats(); st.Index != "flat" {
		t.Fatalf("below the threshold the space uses %s", st.Index)
	}
	rememberRows(t, sp, dim, base, n/2-1, n)
	if st := sp.Stats(); st.Index != "hnsw" || st.IndexLen != n {
		t.Fatalf("past the threshold: %+v", st)
	}
	r := spaceRecall(t, sp, dim, base, queries, kth, Query{SimilarityOnly: true})
	t.Logf("recall@10 at the default breadth: %.4f", r)
	if r < 0.95 {
		t.Fatalf("recall@10 = %.4f, want ≥ 0.95", r)
	}
	if r := spaceRecall(t, sp, dim, base, queries, kth, Query{SimilarityOnly: true, Exact: true}); r != 1 {
		t.Fatalf("exact recall = %.4f", r)
	}
	if err := s.Close(); err != nil { // saves the snapshot
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ = s.LookupSpace("glove")
	if st := sp.Stats(); st.IndexLoadedFrom != "snapshot" || st.Index != "hnsw" || st.IndexLen != n {
		t.Fatalf("after reopen: %+v", st)
	}
	if r2 := spaceRecall(t, sp, dim, base, queries, kth, Query{SimilarityOnly: true}); r2 != r {
		t.Fatalf("recall after loading the snapshot %.4f, before %.4f", r2, r)
	}
	// Make the snapshot stale: forget some memories and add others, then close without
	// saving a new snapshot (as a crash would).
	if _, err := sp.Forget(ctx, "r1", "r2", "r3"); err != nil {
		t.Fatal(err)
	}
	mustStore(t, sp, []Memory{{ID: "new", Embedding: queries[:dim]}})
	g := sp.idx.(*index.HNSW)
	sp.snapChanges = g.Changes() // pretend it is saved
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ = s.LookupSpace("glove")
	if st := sp.Stats(); st.IndexLoadedFrom != "snapshot" || st.IndexLen != n-2 || st.Len != n-2 {
		t.Fatalf("stale snapshot not reconciled: %+v", st)
	}
	hits, _ := sp.Recall(ctx, Query{Embedding: queries[:dim], K: 1})
	if hits[0].Memory.ID != "new" {
		t.Fatalf("memory newer than the snapshot not found: %v", hits[0].Memory.ID)
	}
	for i := 1; i <= 3; i++ {
		hits, _ := sp.Recall(ctx, Query{Embedding: base[i*dim : (i+1)*dim], K: 3})
		for _, h := range hits {
			if h.Memory.ID == "r"+itoa(i) {
				t.Fatalf("forgotten memory %s returned after reload", h.Memory.ID)
			}
		}
	}
	if err := sp.idx.(*index.HNSW).Verify(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A damaged snapshot is detected and the graph rebuilt from the records.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(spaceBucket("glove", kindSnapshot))
		c := sb.Get([]byte{0, 0, 0, 0})
		bad := append([]byte(nil), c...)
		bad[len(bad)/2] ^= 0xff
		return sb.Put([]byte{0, 0, 0, 0}, bad)
	})
	db.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("glove")
	if st := sp.Stats(); st.IndexLoadedFrom != "records" || st.IndexLen != n-2 {
		t.Fatalf("damaged snapshot: %+v", st)
	}
	if r3 := spaceRecall(t, sp, dim, base, queries, nil, Query{SimilarityOnly: true}); r3 < 0.95 {
		t.Fatalf("recall after rebuild %.4f", r3)
	}
}

func TestIndexOptions(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	h := mustSpace(t, s, "h", WithIndex(IndexHNSW), WithHNSW(8, 64, 32))
	mustStore(t, h, []Memory{{ID: "a", Embedding: unit(1, 0)}, {ID: "b", Embedding: unit(0, 1)}})
	if st := h.Stats(); st.Index != "hnsw" {
		t.Fatalf("WithIndex(IndexHNSW): %s", st.Index)
	}
	if hits, _ := h.Recall(ctx, Query{Embedding: unit(1, 0.1), K: 1}); hits[0].Memory.ID != "a" {
		t.Fatal("tiny HNSW space recall")
	}
	f := mustSpace(t, s, "f", WithIndex(IndexFlat), WithHNSWThreshold(1))
	mustStore(t, f, []Memory{{Embedding: unit(1, 0)}, {Embedding: unit(0, 1)}})
	if st := f.Stats(); st.Index != "flat" {
		t.Fatalf("WithIndex(IndexFlat) switched to %s", st.Index)
	}
	for name, opt := range map[string]SpaceOption{
		"index":     WithIndex(IndexFlat),
		"params":    WithHNSW(16, 200, 128),
		"threshold": WithHNSWThreshold(5),
	} {
		if _, err := s.Space(ctx, "h", opt); CodeOf(err) != CodeInvalidOption {
			t.Errorf("reopening with a different %s: %v", name, err)
		}
	}
	for _, opt := range []SpaceOption{WithIndex(9), WithHNSW(1, 10, 10), WithHNSW(16, 0, 10), WithHNSWThreshold(0)} {
		if _, err := s.Space(ctx, "x", opt); CodeOf(err) != CodeInvalidOption {
			t.Errorf("bad option accepted: %v", err)
		}
	}
}
