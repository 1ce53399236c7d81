package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// fixtureRecall returns mean recall@10 over the fixture queries.
func fixtureRecall(t testing.TB, f *gloveFixture, idx Index, ef int) float64 {
	t.Helper()
	var sum float64
	for i := 0; i < f.nQuery; i++ {
		res, err := idx.Search(f.query(i), 10, SearchOptions{Breadth: ef, MinSimilarity: -1})
		if err != nil {
			t.Fatal(err)
		}
		sum += f.recall10(i, res)
	}
	return sum / float64(f.nQuery)
}

// TestHNSWChurnKeepsRecall: delete 30% of the nodes and insert them again (new keys, as the
// store's upserts do); with compaction, recall stays within 0.01 of a fresh build.
func TestHNSWChurnKeepsRecall(t *testing.T) {
	f := testFixture(t)
	fresh := NewHNSW(f.dim, HNSWConfig{})
	fresh.Add(keysUpTo(f.nBase), f.base)
	want := fixtureRecall(t, f, fresh, fixtureEf)

	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(f.nBase), f.base)
	r := rand.New(rand.NewPCG(5, 5))
	perm := r.Perm(f.nBase)
	churn := perm[:f.nBase*3/10]
	for round := 0; round < 3; round++ {
		// Delete in the same order, re-add under fresh keys (key + n*(round+1)).
		old := make([]uint64, len(churn))
		add := make([]uint64, len(churn))
		vecs := make([]float32, 0, len(churn)*f.dim)
		for i, row := range churn {
			old[i] = uint64(row + f.nBase*round)
			add[i] = uint64(row + f.nBase*(round+1))
			vecs = append(vecs, f.base[row*f.dim:(row+1)*f.dim]...)
		}
		if n := g.Delete(old...); n != len(old) {
			t.Fatalf("round %d: deleted %d of %d", round, n, len(old))
		}
		if err := g.Add(add, vecs); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	st := g.Stats()
	if g.Len() != f.nBase || st.Live != f.nBase {
		t.Fatalf("after churn: Len %d, stats %+v", g.Len(), st)
	}
	// Compaction recycled the slots: the graph did not grow by the churn.
	if st.Nodes > f.nBase*11/10 {
		t.Fatalf("slots not recycled: %+v", st)
	}
	got := fixtureRecall(t, f, g, fixtureEf)
	t.Logf("recall@10 ef=%d: fresh %.4f, after 3×30%% churn %.4f; %+v", fixtureEf, want, got, st)
	if got < want-0.01 {
		t.Fatalf("recall decayed under churn: %.4f vs fresh %.4f", got, want)
	}
	// Deleted keys (a churned row under any earlier round's key) are never returned.
	churned := map[uint64]bool{}
	for _, row := range churn {
		churned[uint64(row)] = true
	}
	for i := 0; i < f.nQuery; i++ {
		res, _ := g.Search(f.query(i), 10, SearchOptions{MinSimilarity: -1})
		for _, rr := range res {
			if rr.Key < uint64(3*f.nBase) && churned[rr.Key%uint64(f.nBase)] {
				t.Fatalf("deleted key %d returned", rr.Key)
			}
		}
	}
}

func TestHNSWUpsertSameKeyAndExactMode(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(500), f.base[:500*f.dim])
	// Re-adding a key replaces its vector: key 7 now carries row 900's vector.
	g.Add([]uint64{7}, f.base[900*f.dim:901*f.dim])
	if g.Len() != 500 {
		t.Fatalf("Len = %d after replacing a key", g.Len())
	}
	res, _ := g.Search(f.base[900*f.dim:901*f.dim], 1, SearchOptions{MinSimilarity: -1})
	if len(res) != 1 || res[0].Key != 7 || res[0].Similarity < 0.9999 {
		t.Fatalf("replaced vector not found: %+v", res)
	}
	v := make([]float32, f.dim)
	if !g.Vector(7, v) || !slices.Equal(v, f.base[900*f.dim:901*f.dim]) {
		t.Fatal("Vector(7) is not the new vector")
	}
	// Exact mode equals the flat index.
	flat := NewFlat(f.dim)
	keys := keysUpTo(500)
	vecs := slices.Clone(f.base[:500*f.dim])
	copy(vecs[7*f.dim:8*f.dim], f.base[900*f.dim:901*f.dim])
	flat.Add(keys, vecs)
	for i := 0; i < 20; i++ {
		opt := SearchOptions{MinSimilarity: -1, Exact: true, Filter: func(k uint64) bool { return k%2 == 0 }}
		a, _ := g.Search(f.query(i), 10, opt)
		b, _ := flat.Search(f.query(i), 10, opt)
		if !slices.Equal(a, b) {
			t.Fatalf("exact HNSW %v != flat %v", a, b)
		}
	}
}

// TestHNSWSelectiveFilter: a filter passing 1% of nodes still yields k results, the exact
// ones.
func TestHNSWSelectiveFilter(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(f.nBase), f.base)
	flat := NewFlat(f.dim)
	flat.Add(keysUpTo(f.nBase), f.base)
	for _, mod := range []uint64{2, 10, 100, 1000} {
		keep := func(k uint64) bool { return k%mod == 3%mod }
		var recall float64
		for i := 0; i < 50; i++ {
			got, _ := g.Search(f.query(i), 10, SearchOptions{MinSimilarity: -1, Filter: keep})
			want, _ := flat.Search(f.query(i), 10, SearchOptions{MinSimilarity: -1, Filter: keep})
			if len(got) != len(want) {
				t.Fatalf("filter 1/%d: %d results, want %d", mod, len(got), len(want))
			}
			for _, r := range got {
				if !keep(r.Key) {
					t.Fatalf("filtered-out key %d returned", r.Key)
				}
				for _, w := range want {
					if w.Key == r.Key {
						recall++
						break
					}
				}
			}
		}
		recall /= float64(50 * min(10, f.nBase/int(mod)))
		t.Logf("filter passing 1/%d: recall %.3f", mod, recall)
		if recall < 0.9 {
			t.Fatalf("filter 1/%d: recall %.3f", mod, recall)
		}
	}
}

// TestHNSWParallelInsertWithConcurrentSearch runs batch inserts (parallel inside), deletes
// and searches at once; meant for -race.
func TestHNSWParallelInsertWithConcurrentSearch(t *testing.T) {
	f := testFixture(t)
	n := min(3000, f.nBase) / 250 * 250
	g := NewHNSW(f.dim, HNSWConfig{Workers: 4, EfConstruction: 64})
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				res, err := g.Search(f.query(i%f.nQuery), 5, SearchOptions{MinSimilarity: -1, Filter: func(k uint64) bool { return k%3 != 0 }})
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range res {
					if r.Key%3 == 0 {
						t.Error("filter ignored")
					}
				}
				g.Stats()
			}
		}()
	}
	for off := 0; off < n; off += 250 {
		if err := g.Add(keysUpTo(n)[off:off+250], f.base[off*f.dim:(off+250)*f.dim]); err != nil {
			t.Fatal(err)
		}
		g.Delete(uint64(off + 1))
	}
	g.Compact()
	stop.Store(true)
	wg.Wait()
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	if want := n - n/250; g.Len() != want {
		t.Fatalf("Len = %d, want %d", g.Len(), want)
	}
	// Every node is reachable (Verify); nearly all are found by their own vector (HNSW is
	// approximate: a few may sit behind a local optimum of the greedy search). Breadth 400:
	// under -race the parallel inserts interleave far more than in a real run, and at
	// breadth 100 the share found varied from 0.976 to 1.000 over runs (1.000 every time
	// without -race), before and after the node-record layout alike.
	found := 0
	for i := 0; i < n; i++ {
		if i%250 == 1 {
			continue
		}
		res, _ := g.Search(f.base[i*f.dim:(i+1)*f.dim], 1, SearchOptions{MinSimilarity: -1, Breadth: 400})
		if len(res) == 1 && (res[0].Key == uint64(i) || res[0].Similarity > 0.9999) {
			found++
		}
	}
	// Under -race the bar is lower: one clean-clone CI run found 0.974 at breadth 400 (on
	// a loaded machine; 1.000 in 8 of 9 runs by hand, 0.9988 the lowest), where without the
	// race detector every run finds all. The race detector's interleaving of four insert
	// workers on two cores is far from a real run's; what this test guards there is the
	// absence of data races and a graph that verifies.
	want := 0.99
	if raceEnabled {
		want = 0.95
	}
	t.Logf("self-recall %.4f", float64(found)/float64(n-n/250))
	if rate := float64(found) / float64(n-n/250); rate < want {
		t.Fatalf("only %.3f of the nodes are found by their own vector (want %.2f)", rate, want)
	}
}

func TestHNSWSnapshotRoundTrip(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	n := f.nBase * 3 / 8
	g.Add(keysUpTo(n), f.base[:n*f.dim])
	snap, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := DecodeHNSW(snap, f.dim, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ld.Dim() != f.dim || ld.Config().M != 16 || ld.Config().EfSearch != g.Config().EfSearch {
		t.Fatalf("loader: dim %d cfg %+v", ld.Dim(), ld.Config())
	}
	for i := 0; i < n; i++ {
		if !ld.Fill(uint64(i), f.base[i*f.dim:(i+1)*f.dim]) {
			t.Fatalf("Fill(%d) refused", i)
		}
	}
	if ld.Fill(uint64(n+1), f.base[:f.dim]) || ld.Fill(3, f.base[:f.dim]) {
		t.Fatal("Fill accepted an unknown or already filled key")
	}
	h, missing := ld.Finish()
	if missing != 0 || h.Len() != n {
		t.Fatalf("missing %d, Len %d", missing, h.Len())
	}
	// A spent loader refuses Fill and hands back the same graph; it never panics.
	if ld.Fill(0, f.base[:f.dim]) || ld.Dim() != f.dim {
		t.Fatal("a spent loader accepted Fill, or forgot its dimension")
	}
	if h2, m2 := ld.Finish(); h2 != h || m2 != 0 {
		t.Fatalf("second Finish = %p, %d; want the same graph and 0", h2, m2)
	}
	// The same graph answers every query identically.
	for i := 0; i < f.nQuery; i++ {
		a, _ := g.Search(f.query(i), 10, SearchOptions{MinSimilarity: -1})
		b, _ := h.Search(f.query(i), 10, SearchOptions{MinSimilarity: -1})
		if !slices.Equal(a, b) {
			t.Fatalf("query %d: loaded graph answers %v, original %v", i, b, a)
		}
	}
	if again, _ := h.MarshalBinary(); !bytes.Equal(again, snap) {
		t.Fatal("re-encoded snapshot differs")
	}
}

// TestHNSWSnapshotReconciles: tombstones in the snapshot and memories forgotten after it
// are repaired away at load; keys newer than the snapshot are inserted after it.
func TestHNSWSnapshotReconciles(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	half := f.nBase / 2
	g.Add(keysUpTo(half), f.base[:half*f.dim])
	g.Delete(5, 6, 7)
	snap, _ := g.MarshalBinary()
	ld, err := DecodeHNSW(snap, f.dim, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < half; i++ {
		if i == 100 || i == 101 { // forgotten after the snapshot
			continue
		}
		got := ld.Fill(uint64(i), f.base[i*f.dim:(i+1)*f.dim])
		if want := i < 5 || i > 7; got != want {
			t.Fatalf("Fill(%d) = %v", i, got)
		}
	}
	h, missing := ld.Finish()
	if missing != 2 || h.Len() != half-5 || h.Contains(100) || h.Contains(6) || !h.Contains(99) {
		t.Fatalf("after load: missing %d, Len %d", missing, h.Len())
	}
	if err := h.Verify(); err != nil {
		t.Fatal(err)
	}
	if st := h.Stats(); st.Tombstones != 0 || st.Free != 5 {
		t.Fatalf("load did not repair the tombstones: %+v", st)
	}
	// Newer memories go in after the load.
	h.Add(keysUpTo(f.nBase)[half:], f.base[half*f.dim:])
	if got := fixtureRecall(t, f, h, fixtureEf); got < 0.95 {
		t.Fatalf("recall after reconcile = %.4f", got)
	}
}

func TestHNSWSnapshotDamageIsRejected(t *testing.T) {
	f := testFixture(t)
	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(200), f.base[:200*f.dim])
	snap, _ := g.MarshalBinary()
	for i := 0; i < len(snap); i += 7 {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x08
		if _, err := DecodeHNSW(bad, f.dim, 0); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("flip at %d: %v", i, err)
		}
	}
	for _, n := range []int{0, 3, 39, 100, len(snap) - 1} {
		if _, err := DecodeHNSW(snap[:n], f.dim, 0); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := DecodeHNSW(snap, f.dim+1, 0); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("snapshot of another dimension: %v", err)
	}
	empty, _ := NewHNSW(4, HNSWConfig{}).MarshalBinary()
	ld, err := DecodeHNSW(empty, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := ld.Finish(); h.Len() != 0 {
		t.Fatal("empty snapshot not empty")
	}
}

// FuzzDecodeHNSW: no input panics the decoder, and whatever decodes can be finished and
// searched without panicking. Bodies are sealed with a valid checksum so the fuzzer
// explores the structure behind it.
func FuzzDecodeHNSW(f *testing.F) {
	g := NewHNSW(2, HNSWConfig{M: 2})
	g.Add([]uint64{1, 2, 3, 4}, []float32{1, 0, 0, 1, 0.6, 0.8, -1, 0})
	snap, _ := g.MarshalBinary()
	f.Add(snap[:len(snap)-4])
	f.Add([]byte("EGHN"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
		ld, err := DecodeHNSW(b, 2, 1)
		if err != nil {
			return
		}
		v := make([]float32, ld.Dim())
		v[0] = 1
		for k := uint64(0); k < 8; k++ {
			ld.Fill(k, v)
		}
		h, _ := ld.Finish()
		h.Search(v, 3, SearchOptions{MinSimilarity: -1})
		h.Add([]uint64{99}, v)
		h.Search(v, 3, SearchOptions{MinSimilarity: -1})
	})
}

// TestHNSWHiddenUntilPublished: nodes added hidden are linked (the graph routes through
// them) but never returned, by the graph or the exact scan, until Publish; deleting them
// instead leaves the rest intact.
func TestHNSWHiddenUntilPublished(t *testing.T) {
	f := testFixture(t)
	n := f.nBase / 2
	g := NewHNSW(f.dim, HNSWConfig{})
	g.Add(keysUpTo(n), f.base[:n*f.dim])
	hidden := keysUpTo(f.nBase)[n:]
	if err := g.AddHidden(hidden, f.base[n*f.dim:]); err != nil {
		t.Fatal(err)
	}
	if g.Len() != n {
		t.Fatalf("Len counts hidden nodes: %d", g.Len())
	}
	for i := n; i < f.nBase; i += 97 {
		for _, exact := range []bool{false, true} {
			res, _ := g.Search(f.base[i*f.dim:(i+1)*f.dim], 10, SearchOptions{MinSimilarity: -1, Exact: exact})
			for _, r := range res {
				if r.Key >= uint64(n) {
					t.Fatalf("hidden key %d returned (exact=%v)", r.Key, exact)
				}
			}
		}
	}
	// A snapshot taken now does not contain them as live.
	snap, _ := g.MarshalBinary()
	ld, err := DecodeHNSW(snap, f.dim, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ld.Fill(uint64(n), f.base[n*f.dim:(n+1)*f.dim]) {
		t.Fatal("a hidden node came back from a snapshot as live")
	}
	if published := g.Publish(hidden...); published != len(hidden) || g.Len() != f.nBase {
		t.Fatalf("published %d, Len %d", published, g.Len())
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	if r := fixtureRecall(t, f, g, fixtureEf); r < 0.95 {
		t.Fatalf("recall after publishing: %.4f", r)
	}
	// Hidden then deleted (a failed commit): gone, graph intact.
	extra := []uint64{1 << 40, 1<<40 + 1}
	g.AddHidden(extra, f.base[:2*f.dim])
	if g.Delete(extra...) != 2 || g.Len() != f.nBase || g.Contains(1<<40) {
		t.Fatal("deleting hidden nodes")
	}
	g.Compact()
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestHNSWEveryNodeReachable: on low-dimensional data the neighbour heuristic leaves, in
// about 8% of small graphs, a few nodes that link only among themselves, unreachable from
// the entry point (measured: 47 of 600 graphs of 300 random 4-, 8- and 16-d vectors before
// the connectivity repair). With it, every node is reachable (Verify) and found by its own
// vector.
func TestHNSWEveryNodeReachable(t *testing.T) {
	seeds := 100
	if raceEnabled {
		seeds = 20
	}
	for seed := uint64(0); seed < uint64(seeds); seed++ {
		for _, dim := range []int{4, 8} {
			r := rand.New(rand.NewPCG(seed, uint64(dim)))
			const n = 300
			vecs := make([]float32, 0, n*dim)
			for i := 0; i < n; i++ {
				vecs = append(vecs, randUnit(r, dim)...)
			}
			g := NewHNSW(dim, HNSWConfig{Workers: 2})
			if err := g.Add(keysUpTo(n), vecs); err != nil {
				t.Fatal(err)
			}
			if err := g.Verify(); err != nil {
				t.Fatalf("seed %d dim %d: %v", seed, dim, err)
			}
			for i := 0; i < n; i++ {
				res, _ := g.Search(vecs[i*dim:(i+1)*dim], 1, SearchOptions{MinSimilarity: -1, Breadth: n})
				if len(res) == 0 || (res[0].Key != uint64(i) && res[0].Similarity < 0.99999) {
					t.Fatalf("seed %d dim %d: node %d not found by its own vector with ef = n", seed, dim, i)
				}
			}
		}
	}
}
