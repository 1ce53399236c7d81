package index

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"testing"
)

// gloveFixture is testdata/glove-8k.bin: 8,000 base and 200 held-out query vectors of the
// real GloVe-derived data set (100-d, unit length) with their exact top-10. The format is
// documented in bench/fixture.go, which generates it.
type gloveFixture struct {
	dim, nBase, nQuery, k int
	base, queries         []float32
	truth                 []uint32  // nQuery × k ids, best first
	scores                []float32 // nQuery × k inner products, descending
}

func loadFixture(t testing.TB) *gloveFixture {
	t.Helper()
	b, err := os.ReadFile("../testdata/glove-8k.bin")
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	if len(b) < 44 || string(b[:8]) != "ENGFIX01" || crc32.ChecksumIEEE(b[:len(b)-4]) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		t.Fatal("fixture: bad magic or checksum")
	}
	u32 := func(off int) int { return int(binary.LittleEndian.Uint32(b[off:])) }
	f := &gloveFixture{dim: u32(12), nBase: u32(16), nQuery: u32(20), k: u32(24)}
	floats := func(off, n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*i:]))
		}
		return out
	}
	off := 40
	f.base = floats(off, f.nBase*f.dim)
	off += 4 * f.nBase * f.dim
	f.queries = floats(off, f.nQuery*f.dim)
	off += 4 * f.nQuery * f.dim
	f.truth = make([]uint32, f.nQuery*f.k)
	for i := range f.truth {
		f.truth[i] = binary.LittleEndian.Uint32(b[off+4*i:])
	}
	off += 4 * f.nQuery * f.k
	f.scores = floats(off, f.nQuery*f.k)
	return f
}

// sized returns the fixture cut to its first n base vectors (all of them when n is 0 or
// larger), with the exact top-10 recomputed by the flat index for the smaller base.
func (f *gloveFixture) sized(n int) *gloveFixture {
	if n <= 0 || n >= f.nBase {
		return f
	}
	g := *f
	g.nBase = n
	g.base = f.base[:n*f.dim]
	flat := NewFlat(f.dim)
	flat.Add(keysUpTo(n), g.base)
	g.truth = make([]uint32, f.nQuery*f.k)
	g.scores = make([]float32, f.nQuery*f.k)
	for i := 0; i < f.nQuery; i++ {
		res, _ := flat.Search(f.query(i), f.k, SearchOptions{MinSimilarity: -1})
		for j, r := range res {
			g.truth[i*f.k+j] = uint32(r.Key)
			g.scores[i*f.k+j] = r.Similarity
		}
	}
	return &g
}

// testFixture is the fixture at the size the recall tests use: all 8,000 base vectors,
// or 2,500 under the race detector.
func testFixture(t testing.TB) *gloveFixture {
	f := loadFixture(t)
	if raceEnabled {
		return f.sized(2500)
	}
	return f
}

func (f *gloveFixture) query(i int) []float32 { return f.queries[i*f.dim : (i+1)*f.dim] }

// recall10 scores results against the exact top-10: a returned key counts when its score
// reaches the exact 10th-best minus a float tolerance (near-ties are not misses).
func (f *gloveFixture) recall10(i int, res []Result) float64 {
	kth := f.scores[i*f.k+9]
	hits := 0
	for j, r := range res {
		if j == 10 {
			break
		}
		if r.Similarity >= kth-1e-5 {
			hits++
		}
	}
	return float64(hits) / 10
}

// keys returns 0..n-1.
func keysUpTo(n int) []uint64 {
	k := make([]uint64, n)
	for i := range k {
		k[i] = uint64(i)
	}
	return k
}
