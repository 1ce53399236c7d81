package index

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/engram-go/engram/vector"
)

// rerank10 re-ranks candidates by their exact similarity to q (as the store does from its
// records) and returns the best 10.
func rerank10(q, base []float32, dim int, cands []Result) []Result {
	out := make([]Result, len(cands))
	for i, c := range cands {
		out[i] = Result{c.Key, vector.Dot(q, base[int(c.Key)*dim:(int(c.Key)+1)*dim])}
	}
	sortTies(out)
	return out[:min(10, len(out))]
}

func TestGraph8RecallOnRealData(t *testing.T) {
	f := testFixture(t)
	g := NewGraph8(f.dim, Graph8Config{})
	for off := 0; off < f.nBase; off += 1000 { // in batches, as migration feeds it
		end := min(off+1000, f.nBase)
		if err := g.Add(keysUpTo(end)[off:], f.base[off*f.dim:end*f.dim]); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i := 0; i < f.nQuery; i++ {
		res, err := g.Search(f.query(i), 20, SearchOptions{MinSimilarity: -1, Breadth: 128})
		if err != nil {
			t.Fatal(err)
		}
		sum += f.recall10(i, rerank10(f.query(i), f.base, f.dim, res))
	}
	if r := sum / float64(f.nQuery); r < 0.97 {
		t.Fatalf("recall@10 after re-ranking 20 candidates: %.4f, want ≥ 0.97", r)
	}
}

// TestGraph8ChurnKeepsEveryMemoryFindable: through rounds of inserts, replacements and
// deletes (with compactions), the graph's invariants hold, it holds exactly the reference
// keys with their stamps, and every key is found at rank 1 by its own vector.
func TestGraph8ChurnKeepsEveryMemoryFindable(t *testing.T) {
	const dim = 32
	r := rand.New(rand.NewPCG(3, 8))
	g := NewGraph8(dim, Graph8Config{M: 6, EfConstruction: 32, CompactRatio: 0.05})
	ref := reference{}
	stamps := map[uint64]uint32{}
	for round := 0; round < 40; round++ {
		n := 1 + r.IntN(150)
		keys := make([]uint64, 0, n)
		vecs := make([]float32, 0, n*dim)
		st := make([]uint32, 0, n)
		seen := map[uint64]bool{}
		for len(keys) < n {
			k := uint64(r.IntN(3000))
			if seen[k] {
				continue
			}
			seen[k] = true
			v := randUnit(r, dim)
			keys, vecs, st = append(keys, k), append(vecs, v...), append(st, uint32(round))
			ref[k], stamps[k] = v, uint32(round)
		}
		if err := g.AddStamped(keys, vecs, st); err != nil {
			t.Fatal(err)
		}
		want, deleted := 0, 0
		for i := 0; i < r.IntN(120); i++ {
			k := uint64(r.IntN(3000))
			if _, ok := ref[k]; ok {
				want++
			}
			delete(ref, k)
			got := g.Delete(k)
			if got != 0 && got != 1 {
				t.Fatalf("Delete returned %d", got)
			}
			deleted += got
		}
		if deleted != want {
			t.Fatalf("round %d: Delete removed %d keys, %d were present", round, deleted, want)
		}
		if err := g.Verify(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if g.Len() != len(ref) {
			t.Fatalf("round %d: Len %d, want %d", round, g.Len(), len(ref))
		}
	}
	var keys []uint64
	for k := range g.Keys() {
		keys = append(keys, k)
	}
	if len(keys) != len(ref) {
		t.Fatalf("Keys: %d, want %d", len(keys), len(ref))
	}
	for k, v := range ref {
		if s, ok := g.Stamp(k); !ok || s != stamps[k] || !g.Contains(k) || !g.Matches(k, v) {
			t.Fatalf("key %d: stamp %d %v, contains %v, matches %v", k, s, ok, g.Contains(k), g.Matches(k, v))
		}
		res, err := g.Search(v, 1, SearchOptions{MinSimilarity: -1})
		if err != nil || len(res) != 1 || res[0].Key != k {
			t.Fatalf("key %d not found at rank 1 by its own vector: %v %v", k, res, err)
		}
	}
	for _, k := range g.StampedBefore(10, math.MaxInt) {
		if stamps[k] >= 10 {
			t.Fatalf("key %d stamped %d returned as older than 10", k, stamps[k])
		}
	}
	if st := g.Stats(); st.Tombstones > 0 && float64(st.Tombstones) >= 0.05*float64(st.Live+st.Tombstones) {
		t.Fatalf("tombstones not compacted: %+v", st)
	}
}

// TestGraph8ShrinksAfterDeletions: once many slots are recycled, the nodes move down and
// the memory follows the node count; every node is still found by its own vector.
func TestGraph8ShrinksAfterDeletions(t *testing.T) {
	const dim = 16
	r := rand.New(rand.NewPCG(11, 3))
	g := NewGraph8(dim, Graph8Config{M: 6})
	ref := reference{}
	var vecs []float32
	for k := range uint64(6000) {
		v := randUnit(r, dim)
		ref[k], vecs = v, append(vecs, v...)
	}
	g.AddStamped(keysUpTo(6000), vecs, nil)
	g.AddHidden([]uint64{9999}, randUnit(r, dim), nil) // in flight across the shrink
	peak := g.MemoryBytes()
	var del []uint64
	for k := range uint64(6000) {
		if k%3 != 0 || k > 4000 { // keep a third of the first 4000: holes below the end
			del = append(del, k)
			delete(ref, k)
		}
	}
	g.Delete(del...)
	g.Compact()
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	if g.Len() != len(ref) || g.Publish(9999) != 1 {
		t.Fatalf("Len %d, want %d", g.Len(), len(ref))
	}
	if b := g.MemoryBytes(); b > peak/2 {
		t.Fatalf("memory %d of the peak %d after deleting 3/4 of the nodes", b, peak)
	}
	for k, v := range ref {
		res, _ := g.Search(v, 1, SearchOptions{MinSimilarity: -1})
		if len(res) != 1 || res[0].Key != k || !g.Matches(k, v) {
			t.Fatalf("key %d after the shrink: %v", k, res)
		}
	}
	g.Add([]uint64{7000}, randUnit(r, dim)) // and it grows again
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestGraph8HiddenUntilPublished(t *testing.T) {
	const dim = 16
	r := rand.New(rand.NewPCG(5, 1))
	g := NewGraph8(dim, Graph8Config{})
	var vecs []float32
	for range 200 {
		vecs = append(vecs, randUnit(r, dim)...)
	}
	g.Add(keysUpTo(100), vecs[:100*dim])
	hidden := keysUpTo(200)[100:]
	if err := g.AddHidden(hidden, vecs[100*dim:], nil); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 100 || g.Contains(150) {
		t.Fatalf("hidden nodes visible: Len %d, Contains %v", g.Len(), g.Contains(150))
	}
	res, _ := g.Search(vecs[150*dim:151*dim], 10, SearchOptions{MinSimilarity: -1, Exact: true})
	for _, x := range res {
		if x.Key >= 100 {
			t.Fatalf("hidden key %d returned", x.Key)
		}
	}
	if n := g.Publish(hidden[:50]...); n != 50 {
		t.Fatalf("Publish: %d", n)
	}
	if n := g.Delete(hidden[50:]...); n != 50 { // a failed commit takes its nodes back
		t.Fatalf("Delete of hidden: %d", n)
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	res, _ = g.Search(vecs[120*dim:121*dim], 1, SearchOptions{MinSimilarity: -1})
	if len(res) != 1 || res[0].Key != 120 || g.Len() != 150 || g.Contains(170) {
		t.Fatalf("after publish: %v, Len %d", res, g.Len())
	}
}

// TestGraph8FilterAndThreshold: a selective filter still yields the best passing nodes
// (by the exact fallback), and the MinSimilarity pre-filter never drops an exact match.
func TestGraph8FilterAndThreshold(t *testing.T) {
	const dim = 24
	r := rand.New(rand.NewPCG(7, 7))
	g := NewGraph8(dim, Graph8Config{})
	ref := reference{}
	var vecs []float32
	for k := range uint64(5000) {
		v := randUnit(r, dim)
		ref[k] = v
		vecs = append(vecs, v...)
	}
	g.Add(keysUpTo(5000), vecs)
	q := randUnit(r, dim)
	keep := func(k uint64) bool { return k%251 == 0 }
	res, err := g.Search(q, 5, SearchOptions{MinSimilarity: -1, Filter: keep})
	if err != nil || len(res) != 5 {
		t.Fatalf("filtered: %v %v", res, err)
	}
	want := ref.search(q, 5, -1, keep)
	for i := range res {
		if !keep(res[i].Key) || res[i].Key != want[i].Key {
			t.Fatalf("filtered result %d: %d, want %d", i, res[i].Key, want[i].Key)
		}
	}
	res, _ = g.Search(vecs[:dim], 1, SearchOptions{MinSimilarity: 0.999})
	if len(res) != 1 || res[0].Key != 0 {
		t.Fatalf("exact match dropped by the threshold: %v", res)
	}
	// A spiky unit vector: one large component, the rest just under half a quantization
	// step, so they all round to zero; at 1536 dimensions they hold 2% of its square norm,
	// and its code's similarity to itself is far from 1. The threshold must still keep it.
	const wide = 1536
	spiky := make([]float32, wide)
	for i := range spiky {
		spiky[i] = 0.0039
	}
	spiky[0] = 1
	vector.Normalize(spiky)
	w := NewGraph8(wide, Graph8Config{})
	w.Add([]uint64{1 << 40}, spiky)
	for _, exact := range []bool{false, true} {
		res, _ = w.Search(spiky, 1, SearchOptions{MinSimilarity: 0.999, Exact: exact})
		if len(res) == 0 || res[0].Key != 1<<40 {
			t.Fatalf("exact match dropped by the threshold pre-filter (exact %v): %+v", exact, res)
		}
	}
	if _, err := g.Search(q[:3], 5, SearchOptions{}); !errors.Is(err, ErrDimension) {
		t.Fatalf("short query: %v", err)
	}
}

// TestGraph8SnapshotRoundTrip: a snapshot restores the graph; one taken before the tier
// changed is reconciled (keys gone are dropped, keys new are added); damage is rejected.
func TestGraph8SnapshotRoundTrip(t *testing.T) {
	const dim = 20
	r := rand.New(rand.NewPCG(9, 3))
	g := NewGraph8(dim, Graph8Config{M: 8})
	ref := reference{}
	var vecs []float32
	for k := range uint64(3000) {
		v := randUnit(r, dim)
		ref[k] = v
		vecs = append(vecs, v...)
	}
	g.AddStamped(keysUpTo(3000), vecs, nil)
	g.Delete(keysUpTo(100)...) // tombstones in the snapshot
	g.AddHidden([]uint64{5000}, randUnit(r, dim), nil)
	data, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := DecodeGraph8(data, dim, Graph8Config{})
	if err != nil {
		t.Fatal(err)
	}
	if ld.Config().M != 8 || ld.Dim() != dim {
		t.Fatalf("config %+v", ld.Config())
	}
	// The tier changed since: keys 100..199 left, 7000..7009 arrived.
	for k := uint64(100); k < 3000; k++ {
		if k >= 200 && !ld.Fill(k, ref[k], uint32(k)) {
			t.Fatalf("Fill(%d) refused", k)
		}
	}
	if ld.Fill(5000, randUnit(r, dim), 0) || ld.Fill(7000, randUnit(r, dim), 0) {
		t.Fatal("Fill accepted a key the snapshot does not hold as present")
	}
	h, missing := ld.Finish()
	if missing != 100 {
		t.Fatalf("missing %d, want 100", missing)
	}
	var extra []float32
	for k := uint64(7000); k < 7010; k++ {
		ref[k] = randUnit(r, dim)
		extra = append(extra, ref[k]...)
	}
	h.Add(keysUpTo(7010)[7000:], extra)
	if err := h.Verify(); err != nil {
		t.Fatal(err)
	}
	for k := range uint64(200) {
		delete(ref, k)
	}
	if h.Len() != len(ref) {
		t.Fatalf("Len %d, want %d", h.Len(), len(ref))
	}
	for k, v := range ref {
		res, _ := h.Search(v, 1, SearchOptions{MinSimilarity: -1})
		if len(res) != 1 || res[0].Key != k {
			t.Fatalf("key %d not at rank 1 after reload: %v", k, res)
		}
	}
	if s, _ := h.Stamp(2500); s != 2500 {
		t.Fatalf("stamp %d", s)
	}
	// Within one call the last row for a key wins.
	v1, v2 := randUnit(r, dim), randUnit(r, dim)
	h.AddStamped([]uint64{9000, 9000}, append(slices.Clone(v1), v2...), []uint32{1, 2})
	if s, _ := h.Stamp(9000); s != 2 || !h.Matches(9000, v2) || h.Len() != len(ref)+1 {
		t.Fatalf("duplicate key in one call: stamp %d, matches %v, Len %d", s, h.Matches(9000, v2), h.Len())
	}
	// Damage anywhere is rejected.
	for _, cut := range []int{0, 10, len(data) / 2, len(data) - 1} {
		if _, err := DecodeGraph8(data[:cut], dim, Graph8Config{}); !errors.Is(err, ErrSnapshot) {
			t.Fatalf("truncated at %d: %v", cut, err)
		}
	}
	bad := slices.Clone(data)
	bad[len(bad)/3] ^= 0x40
	if _, err := DecodeGraph8(bad, dim, Graph8Config{}); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, err := DecodeGraph8(data, dim+1, Graph8Config{}); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("other dimension: %v", err)
	}
}

// FuzzDecodeGraph8: no input panics the decoder, and whatever decodes can be filled,
// finished and verified.
func FuzzDecodeGraph8(f *testing.F) {
	const dim = 4
	r := rand.New(rand.NewPCG(1, 1))
	g := NewGraph8(dim, Graph8Config{M: 2})
	for k := range uint64(40) {
		g.Add([]uint64{k}, randUnit(r, dim))
	}
	g.Delete(3, 7)
	data, _ := g.MarshalBinary()
	f.Add(data)
	f.Add(data[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		// The checksum rejects nearly every mutation; re-seal so the structure checks run.
		if len(b) >= g8Header+4 {
			b = sealGraph8(b)
		}
		ld, err := DecodeGraph8(b, dim, Graph8Config{})
		if err != nil {
			return
		}
		for k := range uint64(64) {
			ld.Fill(k, randUnit(r, dim), 0)
		}
		h, _ := ld.Finish()
		if err := h.Verify(); err != nil {
			t.Fatalf("decoded graph fails Verify: %v", err)
		}
		h.Search(randUnit(r, dim), 3, SearchOptions{MinSimilarity: -1})
	})
}

// TestGraph8ConcurrentSearchesAndWriters: searches run beside inserts, deletes and
// compactions (for the race detector), and every result is a present or recent key.
func TestGraph8ConcurrentSearchesAndWriters(t *testing.T) {
	const dim = 16
	g := NewGraph8(dim, Graph8Config{M: 6, CompactRatio: 0.05})
	r := rand.New(rand.NewPCG(2, 2))
	var vecs []float32
	for range 4000 {
		vecs = append(vecs, randUnit(r, dim)...)
	}
	g.Add(keysUpTo(500), vecs[:500*dim])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			rr := rand.New(rand.NewPCG(uint64(w), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				q := randUnit(rr, dim)
				res, err := g.Search(q, 5, SearchOptions{MinSimilarity: -1})
				if err != nil {
					t.Error(err)
					return
				}
				for _, x := range res {
					if x.Key >= 4000 {
						t.Errorf("unknown key %d", x.Key)
					}
				}
				for k := range g.Keys() {
					g.SetStamp(k, 1)
					break
				}
			}
		})
	}
	for off := 500; off < 4000; off += 100 {
		g.AddHidden(keysUpTo(off + 100)[off:], vecs[off*dim:(off+100)*dim], nil)
		g.Publish(keysUpTo(off + 100)[off:]...)
		g.Delete(keysUpTo(off)[off-60 : off-20]...)
	}
	close(stop)
	wg.Wait()
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
}

// sealGraph8 returns b with its checksum recomputed.
func sealGraph8(b []byte) []byte {
	b = slices.Clone(b)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}

// BenchmarkGraph8Add: inserts of clustered 384-d vectors in batches of 1000, as
// demotions feed the warm tier.
func BenchmarkGraph8Add(b *testing.B) {
	const dim = 384
	r := rand.New(rand.NewPCG(5, 5))
	centres := make([][]float32, 64)
	for i := range centres {
		centres[i] = randUnit(r, dim)
	}
	n := 20000
	vecs := make([]float32, 0, n*dim)
	for i := 0; i < n; i++ {
		c := centres[r.IntN(len(centres))]
		v := randUnit(r, dim)
		for j := range v {
			v[j] = c[j] + 0.7*v[j]
		}
		vecs = append(vecs, v...)
	}
	for b.Loop() {
		g := NewGraph8(dim, Graph8Config{})
		for off := 0; off < n; off += 1000 {
			g.Add(keysUpTo(off + 1000)[off:], vecs[off*dim:(off+1000)*dim])
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "inserts/s")
}
