package main

// engram's own indexes, measured in this process beside the peers: the HNSW graph at every
// ef of the sweep and the exact flat scan. Both take the same unit vectors as the other
// systems and are keyed by row id.

import (
	"fmt"
	"runtime"
	"time"

	"github.com/engram-go/engram/index"
)

type engramHNSW struct {
	g *index.HNSW
}

func (e *engramHNSW) Name() string {
	return "engram-hnsw"
}

func (e *engramHNSW) Params() string { return "M=16 efc=200" }

func (e *engramHNSW) Exact() bool { return false }

func (e *engramHNSW) ConcurrentSearch() bool { return true }

func (e *engramHNSW) Build(s *suite) (buildInfo, error) {
	base, dim, threads := s.base, s.dim, s.threads
	n := len(base) / dim
	e.g = nil // a rebuild starts from an empty heap like the first build
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	before := heapAfterGC()
	start := time.Now()
	e.g = index.NewHNSW(dim, index.HNSWConfig{M: 16, EfConstruction: 200, Workers: threads})
	if err := e.g.Add(keys, base); err != nil {
		return buildInfo{}, err
	}
	secs := time.Since(start).Seconds()
	after := heapAfterGC() - int64(8*n) // not the keys slice the harness made
	st := e.g.Stats()
	runtime.KeepAlive(keys)
	return buildInfo{
		Seconds:        secs,
		Threads:        threads,
		BytesPerVector: float64(after-before) / float64(n),
		BytesMethod:    "Go heap growth over Build after GC, incl. vectors and key map",
		Note: fmt.Sprintf("MemoryBytes %.0f B/vec; top layer %d, mean layer-0 degree %.1f",
			float64(e.g.MemoryBytes())/float64(n), st.TopLayer, st.MeanDegree),
	}, nil
}

func (e *engramHNSW) Searcher(ef int) func(q []float32, k int, out []uint32) []uint32 {
	opt := index.SearchOptions{Breadth: ef, MinSimilarity: -1}
	return func(q []float32, k int, out []uint32) []uint32 {
		res, _ := e.g.Search(q, k, opt)
		for _, r := range res {
			out = append(out, uint32(r.Key))
		}
		return out
	}
}

type engramFlat struct {
	f *index.Flat
}

func (e *engramFlat) Name() string           { return "engram-flat" }
func (e *engramFlat) Params() string         { return "exact, vek SIMD" }
func (e *engramFlat) Exact() bool            { return true }
func (e *engramFlat) ConcurrentSearch() bool { return true }

func (e *engramFlat) Build(s *suite) (buildInfo, error) {
	base, dim := s.base, s.dim
	n := len(base) / dim
	e.f = nil
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	before := heapAfterGC()
	start := time.Now()
	e.f = index.NewFlat(dim)
	if err := e.f.Add(keys, base); err != nil {
		return buildInfo{}, err
	}
	secs := time.Since(start).Seconds()
	after := heapAfterGC() - int64(8*n)
	runtime.KeepAlive(keys)
	return buildInfo{
		Seconds:        secs,
		Threads:        1,
		BytesPerVector: float64(after-before) / float64(n),
		BytesMethod:    "Go heap growth over Build after GC, incl. vectors and key map",
	}, nil
}

func (e *engramFlat) Searcher(int) func(q []float32, k int, out []uint32) []uint32 {
	opt := index.SearchOptions{MinSimilarity: -1}
	return func(q []float32, k int, out []uint32) []uint32 {
		res, _ := e.f.Search(q, k, opt)
		for _, r := range res {
			out = append(out, uint32(r.Key))
		}
		return out
	}
}

func heapAfterGC() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
