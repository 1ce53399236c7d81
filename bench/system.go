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

// annSystem is an index that runs inside this process. To add one, implement this and add
// a case to newSystem in main.go; inProcess adapts it to the harness.
type annSystem interface {
	Name() string
	// Params describes fixed build parameters for the report, e.g. "M=16 efc=200".
	Params() string
	// Build indexes s.base (n*dim row-major, L2-normalized, row i has id i), replacing any
	// earlier build. s.threads is the parallelism the system may use; it reports what it
	// actually used, and times the insertion itself (buildInfo.Seconds).
	Build(s *suite) (buildInfo, error)
	// Exact systems have no search effort to sweep: one row, ef 0.
	Exact() bool
	// Searcher returns a search function for effort ef. Searcher itself is
	// only called from one goroutine; each measuring goroutine then gets its
	// own searcher, so it may own scratch buffers. The function appends at
	// most k ids, best first, to out and returns it.
	Searcher(ef int) func(q []float32, k int, out []uint32) []uint32
	// ConcurrentSearch reports whether searchers may run in parallel.
	ConcurrentSearch() bool
}

type buildInfo struct {
	Seconds        float64 // wall-clock time of the insertion itself
	Threads        int     // threads the build really used
	BytesPerVector float64 // index footprint / n
	BytesMethod    string  // how BytesPerVector was measured
	Note           string
}

// result is one line of output: one system at one search effort, or (TargetRecall > 0)
// one system at the lowest effort that reaches a recall target.
//
// Every figure that is measured more than once keeps its raw runs (the *_runs fields) next
// to the summary: QPS fields are the best run (noise on a shared machine only ever slows a
// run), build figures the median build. Ratios compare with Baseline measured in the same
// run, interleaved: each is the median over repetitions of this system's run divided by
// the baseline's run of the same repetition (see harness.go).
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

	Order string `json:"order"` // insertion order of the base set: random or file

	QPS1ThreadRuns    []float64 `json:"qps_1thread_runs,omitempty"`
	QPS1BatchRuns     []float64 `json:"qps_1thread_batch_runs,omitempty"`
	QPSAllThreadsRuns []float64 `json:"qps_all_threads_runs,omitempty"`
	BuildPerSRuns     []float64 `json:"build_per_s_runs,omitempty"`

	// Baseline is the system the ratios compare with (hnswlib for graphs, faiss-flat for
	// exact scans); empty when it was not run. Ratios are > 1 when this system is faster.
	Baseline string `json:"baseline,omitempty"`
	// QPS1ThreadRatio: per repetition, this system's qps_1thread over the baseline's
	// one-thread rate, which for a Python peer is the better of its per-call and its
	// one-batch rate (so Python's call overhead never flatters the other system).
	QPS1ThreadRatio    float64 `json:"qps_1thread_ratio,omitempty"`
	QPSAllThreadsRatio float64 `json:"qps_all_threads_ratio,omitempty"`
	BuildRatio         float64 `json:"build_ratio,omitempty"` // per build round, build_per_s over the baseline's
	BytesRatio         float64 `json:"bytes_ratio,omitempty"` // bytes_per_vector over the baseline's
	// BuildRatioHNSW: engram-store only, its durable ingest over engram-hnsw's build, per round.
	BuildRatioHNSW float64 `json:"build_ratio_vs_engram_hnsw,omitempty"`

	// Target rows: the recall@10 target, and the baseline's own lowest ef reaching it with
	// the recall it got there (the ratios pair the two efs).
	TargetRecall   float64 `json:"target_recall,omitempty"`
	BaselineEf     int     `json:"baseline_ef,omitempty"`
	BaselineRecall float64 `json:"baseline_recall,omitempty"`
}

// suite is the shared input of one benchmark run.
type suite struct {
	base, queries []float32
	words         []string // base row i's word (engram-store stores it as the content)
	dim, threads  int
	gt            *groundTruth
	efs           []int
	minTime       time.Duration
	repeat        int // interleaved repetitions of every measurement
	builds        int // interleaved builds of every system
	order         string
	cacheDir      string
	python        string

	workerOnce sync.Once
	worker     *pyWorker
	workerErr  error
	peerDir    string
}

func (s *suite) n() int  { return len(s.base) / s.dim }
func (s *suite) nq() int { return len(s.queries) / s.dim }
func (s *suite) query(i int) []float32 {
	return s.queries[i*s.dim : (i+1)*s.dim]
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

// timeMode selects one kind of QPS measurement.
type timeMode int

const (
	mode1Thread timeMode = iota // one query per call, one thread
	mode1Batch                  // one call with all queries, one thread (Python peers only)
	modeAll                     // --threads threads
)

// system is one measured system, in this process (inProcess) or in the Python worker
// (workerSystem). The harness calls it from one goroutine.
type system interface {
	Name() string
	Params() string
	// Exact systems have one row (ef 0) and are compared with the exact baseline.
	Exact() bool
	// Build (re)builds the index on s.base, replacing any earlier build.
	Build(s *suite) (buildInfo, error)
	// IDs runs every query once at ef, one at a time, and returns nq rows of recallK ids
	// (^uint32(0) = none).
	IDs(s *suite, ef int) ([]uint32, error)
	// Time measures queries per second at ef; ok is false if the mode does not apply.
	Time(s *suite, ef int, mode timeMode) (qps float64, ok bool, err error)
	Close()
}

// inProcess adapts an annSystem to system.
type inProcess struct{ sys annSystem }

func (r inProcess) Name() string   { return r.sys.Name() }
func (r inProcess) Params() string { return r.sys.Params() }
func (r inProcess) Exact() bool    { return r.sys.Exact() }

// Close releases what the system holds (a store and its temp dir) if it can.
func (r inProcess) Close() {
	if c, ok := r.sys.(interface{ Close() }); ok {
		c.Close()
	}
}

func (r inProcess) Build(s *suite) (buildInfo, error) {
	runtime.GC()
	info, err := r.sys.Build(s)
	if err != nil {
		return buildInfo{}, fmt.Errorf("%s build: %w", r.sys.Name(), err)
	}
	return info, nil
}

func (r inProcess) IDs(s *suite, ef int) ([]uint32, error) {
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
	return ids, r.err()
}

// err reports a failure the system's search functions recorded (they have no error path
// per query), for systems that can fail (engram-store's Recall).
func (r inProcess) err() error {
	if e, ok := r.sys.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

func (r inProcess) Time(s *suite, ef int, mode timeMode) (float64, bool, error) {
	switch mode {
	case mode1Thread:
		q := s.timeSearchOnce(r.sys, ef, 1)
		return q, true, r.err()
	case modeAll:
		if r.sys.ConcurrentSearch() {
			q := s.timeSearchOnce(r.sys, ef, s.threads)
			return q, true, r.err()
		}
	}
	return 0, false, nil
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
