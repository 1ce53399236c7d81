package main

// github.com/coder/hnsw v0.6.1, the pure-Go HNSW most Go users find first,
// measured as a user would configure it: hnsw.NewGraph defaults except M=16
// (spelled out), a seeded Rng for repeatability, and CosineDistance on the
// normalized vectors.
//
// Things about v0.6.1 that shape how it is measured (read from its source):
//   - Graph.Add mutates shared maps with no locking, so the build is single
//     threaded whatever --threads says (reported as build_threads=1).
//   - Graph.Search only reads the graph (and EfSearch), so parallel Search
//     calls on a finished graph are safe; the package does not document this,
//     it was checked with the race detector (go run -race . ann --systems
//     coder-hnsw). EfSearch is a graph-wide field, so sweeps set it between
//     measurements, never during one.
//   - EfSearch is also the candidate-list size used while inserting, i.e. it
//     doubles as ef_construction. We build with --coder-build-ef and then
//     change it for each search sweep.
//   - Ml is the per-level promotion probability (0.25 by default), not
//     hnswlib's 1/ln(M) normalisation factor (which gives 1/M = 0.0625).

import (
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"time"

	"github.com/coder/hnsw"
)

type coderHNSW struct {
	buildEf int
	g       *hnsw.Graph[uint32]
}

func (c *coderHNSW) Name() string { return "coder-hnsw" }

func (c *coderHNSW) Params() string {
	return fmt.Sprintf("M=16 Ml=0.25 efc=%d", c.buildEf)
}

func (c *coderHNSW) Exact() bool { return false }

func (c *coderHNSW) ConcurrentSearch() bool { return true }

func (c *coderHNSW) Build(s *suite) (buildInfo, error) {
	base, dim := s.base, s.dim
	n := len(base) / dim
	c.g = nil
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	g := hnsw.NewGraph[uint32]()
	g.M = 16
	g.Distance = hnsw.CosineDistance
	g.EfSearch = c.buildEf
	g.Rng = rand.New(rand.NewSource(1))
	start := time.Now()
	for i := 0; i < n; i++ {
		// A private copy per vector, as a caller handing over fresh
		// embeddings would; the graph keeps the slice it is given, so the
		// heap measurement below includes the vectors themselves, like the
		// other systems' footprints do.
		v := make([]float32, dim)
		copy(v, base[i*dim:(i+1)*dim])
		g.Add(hnsw.MakeNode(uint32(i), v))
	}
	c.g = g
	secs := time.Since(start).Seconds()

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	var export countingWriter
	if err := g.Export(&export); err != nil {
		return buildInfo{}, fmt.Errorf("export: %w", err)
	}
	return buildInfo{
		Seconds:        secs,
		Threads:        1,
		BytesPerVector: float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n),
		BytesMethod:    "Go heap growth over Build after GC, incl. vectors",
		Note:           fmt.Sprintf("Add is not concurrency-safe: single-threaded build; Export size %.0f B/vec", float64(export.n)/float64(n)),
	}, nil
}

func (c *coderHNSW) Searcher(ef int) func(q []float32, k int, out []uint32) []uint32 {
	c.g.EfSearch = ef
	return func(q []float32, k int, out []uint32) []uint32 {
		for _, node := range c.g.Search(q, k) {
			out = append(out, node.Key)
		}
		return out
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// goFlat is the exact scan used for ground truth, exposed as a system so the
// harness itself can be checked (it must score recall 1.0) and as the
// reference point an exact engram scan will sit next to.
type goFlat struct {
	base []float32
	dim  int
}

func (f *goFlat) Name() string           { return "go-flat" }
func (f *goFlat) Params() string         { return "exact, scalar Go" }
func (f *goFlat) Exact() bool            { return true }
func (f *goFlat) ConcurrentSearch() bool { return true }

func (f *goFlat) Build(s *suite) (buildInfo, error) {
	start := time.Now()
	f.base = append([]float32(nil), s.base...)
	f.dim = s.dim
	return buildInfo{Seconds: time.Since(start).Seconds(), Threads: 1, BytesPerVector: float64(s.dim * 4), BytesMethod: "float32 rows"}, nil
}

func (f *goFlat) Searcher(int) func(q []float32, k int, out []uint32) []uint32 {
	var t *topK
	var ids []uint32
	var scores []float32
	return func(q []float32, k int, out []uint32) []uint32 {
		if t == nil || t.k != k {
			t, ids, scores = newTopK(k), make([]uint32, k), make([]float32, k)
		}
		scan(f.base, f.dim, q, t)
		m := len(t.ids)
		t.sorted(ids, scores)
		return append(out, ids[:m]...)
	}
}
