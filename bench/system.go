package main

// The measurement harness. Every system is scored by the same Go code
// (recall against the same cached ground truth, the same timing loops), so
// differences in the table come from the systems, not from the harness.
// In-process Go systems implement annSystem; anything that cannot live in
// this process (the Python peers) implements runner directly and reports
// raw result ids, which are scored here as well.

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// annSystem is an index that runs inside this process. To add one (say
// engram's HNSW or its exact scan) implement this and register it in
// systemsByName.
type annSystem interface {
	Name() string
	// Params describes fixed build parameters for the report, e.g. "M=16 efc=200".
	Params() string
	// Build indexes base: n*dim row-major, L2-normalized, row i has id i.
	// threads is the parallelism the system may use; it reports what it
	// actually used.
	Build(base []float32, dim, threads int) (buildInfo, error)
	// Efs lists the search-effort settings to sweep; exact systems return
	// []int{0}. def is the sweep requested on the command line.
	Efs(def []int) []int
	// Searcher returns a search function for effort ef. Searcher itself is
	// only called from one goroutine; each measuring goroutine then gets its
	// own searcher, so it may own scratch buffers. The function appends at
	// most k ids, best first, to out and returns it.
	Searcher(ef int) func(q []float32, k int, out []uint32) []uint32
	// ConcurrentSearch reports whether searchers may run in parallel.
	ConcurrentSearch() bool
}

type buildInfo struct {
	Threads        int     // threads the build really used
	BytesPerVector float64 // index footprint / n
	BytesMethod    string  // how BytesPerVector was measured
	Note           string
}

// result is one line of output: one system at one search effort.
type result struct {
	System     string  `json:"system"`
	Params     string  `json:"params"`
	Ef         int     `json:"ef"`
	RecallAt10 float64 `json:"recall_at_10"`
	QPS1Thread float64 `json:"qps_1thread"`
	// QPS1Batch: one call with all queries on one thread, for out-of-process peers whose
	// per-call overhead (Python) weighs on QPS1Thread. 0 when not measured.
	QPS1Batch      float64 `json:"qps_1thread_batch,omitempty"`
	QPSAllThreads  float64 `json:"qps_all_threads"` // 0 when not measurable
	Threads        int     `json:"threads"`
	BuildPerS      float64 `json:"build_per_s"`
	BuildSeconds   float64 `json:"build_seconds"`
	BuildThreads   int     `json:"build_threads"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	BytesMethod    string  `json:"bytes_method"`
	N              int     `json:"n"`
	Dim            int     `json:"dim"`
	Queries        int     `json:"queries"`
	Note           string  `json:"note,omitempty"`
}

// suite is the shared input of one benchmark run.
type suite struct {
	base, queries []float32
	dim, threads  int
	gt            *groundTruth
	efs           []int
	minTime       time.Duration
	repeat        int // QPS is the best of this many measurements
	cacheDir      string
	python        string

	peerOnce  sync.Once
	peerFiles peerInput
	peerErr   error
}

func (s *suite) n() int  { return len(s.base) / s.dim }
func (s *suite) nq() int { return len(s.queries) / s.dim }
func (s *suite) query(i int) []float32 {
	return s.queries[i*s.dim : (i+1)*s.dim]
}

// runner produces results for one named system.
type runner interface {
	Name() string
	Run(s *suite, emit func(result)) error
}

const recallK = 10

// scoreTolerance absorbs float32 summation-order differences between
// implementations: a returned id whose true score is within this of the
// k-th best score counts as a hit, so exact systems are not penalised for
// breaking near-ties differently (the ann-benchmarks convention).
const scoreTolerance = 1e-5

// recallAt10 scores ids (nq rows of `stride` ids; ^uint32(0) marks "none")
// against ground truth. Duplicates count once and only the first 10 per
// row are considered.
func (s *suite) recallAt10(ids []uint32, stride int) float64 {
	hits := 0
	seen := make(map[uint32]bool, recallK)
	for qi := 0; qi < s.nq(); qi++ {
		_, gs := s.gt.row(qi)
		threshold := gs[recallK-1] - scoreTolerance
		clear(seen)
		row := ids[qi*stride : qi*stride+min(stride, recallK)]
		for _, id := range row {
			if id == ^uint32(0) || int(id) >= s.n() || seen[id] {
				continue
			}
			seen[id] = true
			if dot(s.query(qi), s.base[int(id)*s.dim:(int(id)+1)*s.dim]) >= threshold {
				hits++
			}
		}
	}
	return float64(hits) / float64(s.nq()*recallK)
}

// inProcess adapts an annSystem to runner.
type inProcess struct{ sys annSystem }

func (r inProcess) Name() string { return r.sys.Name() }

func (r inProcess) Run(s *suite, emit func(result)) error {
	runtime.GC()
	start := time.Now()
	info, err := r.sys.Build(s.base, s.dim, s.threads)
	if err != nil {
		return fmt.Errorf("%s build: %w", r.sys.Name(), err)
	}
	buildSec := time.Since(start).Seconds()
	logf("%s: built %d vectors in %.1fs", r.sys.Name(), s.n(), buildSec)
	for _, ef := range r.sys.Efs(s.efs) {
		res := result{
			System: r.sys.Name(), Params: r.sys.Params(), Ef: ef,
			Threads: s.threads, BuildSeconds: buildSec, BuildPerS: float64(s.n()) / buildSec,
			BuildThreads: info.Threads, BytesPerVector: info.BytesPerVector, BytesMethod: info.BytesMethod,
			N: s.n(), Dim: s.dim, Queries: s.nq(), Note: info.Note,
		}
		// First pass: collect ids for recall; it doubles as cache warm-up.
		search := r.sys.Searcher(ef)
		ids := make([]uint32, s.nq()*recallK)
		for i := range ids {
			ids[i] = ^uint32(0)
		}
		var out []uint32
		for qi := 0; qi < s.nq(); qi++ {
			out = search(s.query(qi), recallK, out[:0])
			copy(ids[qi*recallK:(qi+1)*recallK], out)
		}
		res.RecallAt10 = s.recallAt10(ids, recallK)
		res.QPS1Thread = s.timeSearch(r.sys, ef, 1)
		if r.sys.ConcurrentSearch() {
			res.QPSAllThreads = s.timeSearch(r.sys, ef, s.threads)
		}
		emit(res)
	}
	return nil
}

// timeSearch returns the best queries-per-second of s.repeat measurements.
// The best, not the mean, because on a shared machine interference only
// ever slows a run down (the ann-benchmarks convention).
func (s *suite) timeSearch(sys annSystem, ef, workers int) float64 {
	best := 0.0
	for range max(s.repeat, 1) {
		best = max(best, s.timeSearchOnce(sys, ef, workers))
	}
	return best
}

// timeSearchOnce runs the query set over and over on `workers` goroutines
// until minTime has passed and returns queries per second. Repeating the set
// (rather than timing one pass of 1000 fast queries) keeps timer and
// scheduler noise small relative to the measurement. Each worker takes
// every workers-th query so all see the same mix.
func (s *suite) timeSearchOnce(sys annSystem, ef, workers int) float64 {
	runtime.GC()
	deadline := time.Now().Add(s.minTime)
	counts := make([]int, workers)
	// Searchers are made here, on one goroutine, because making one may
	// configure shared state (coder/hnsw's graph-wide EfSearch).
	searchers := make([]func([]float32, int, []uint32) []uint32, workers)
	for w := range searchers {
		searchers[w] = sys.Searcher(ef)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			search := searchers[w]
			var out []uint32
			for {
				for qi := w; qi < s.nq(); qi += workers {
					out = search(s.query(qi), recallK, out[:0])
					counts[w]++
				}
				if time.Now().After(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	total := 0
	for _, c := range counts {
		total += c
	}
	return float64(total) / elapsed
}
