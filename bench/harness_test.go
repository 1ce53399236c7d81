package main

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeSystem is a system whose recall is a known function of ef and whose timings come
// from a script, so the schedule and the arithmetic can be checked exactly.
type fakeSystem struct {
	name   string
	exact  bool
	recall func(ef int) float64 // share of queries answered right at ef
	qps    func(ef int, mode timeMode, call int) float64
	log    *[]string // every call, in order
	calls  int
	builds []float64 // seconds of successive builds
}

func (f *fakeSystem) Name() string   { return f.name }
func (f *fakeSystem) Params() string { return "fake" }
func (f *fakeSystem) Exact() bool    { return f.exact }
func (f *fakeSystem) Close()         {}

func (f *fakeSystem) Build(s *suite) (buildInfo, error) {
	*f.log = append(*f.log, "build "+f.name)
	secs := f.builds[0]
	f.builds = f.builds[1:]
	return buildInfo{Seconds: secs, Threads: 1, BytesPerVector: 100}, nil
}

// IDs answers the first recall(ef) share of the queries with the exact top 10, the rest
// with nothing.
func (f *fakeSystem) IDs(s *suite, ef int) ([]uint32, error) {
	ids := make([]uint32, s.nq()*recallK)
	for i := range ids {
		ids[i] = ^uint32(0)
	}
	good := int(math.Round(f.recall(ef) * float64(s.nq())))
	for qi := 0; qi < good; qi++ {
		gids, _ := s.gt.row(qi)
		copy(ids[qi*recallK:], gids[:recallK])
	}
	return ids, nil
}

func (f *fakeSystem) Time(s *suite, ef int, mode timeMode) (float64, bool, error) {
	if mode == mode1Batch && !strings.HasPrefix(f.name, "hnswlib") {
		return 0, false, nil
	}
	*f.log = append(*f.log, f.name)
	f.calls++
	return f.qps(ef, mode, f.calls), true, nil
}

func fakeSuite(t *testing.T, nq int) *suite {
	r := rand.New(rand.NewPCG(7, 8))
	const n, dim = 200, 8
	s := &suite{base: randomUnit(r, n, dim), queries: randomUnit(r, nq, dim), dim: dim, threads: 2,
		repeat: 3, builds: 2, minTime: time.Millisecond, order: orderRandom}
	s.gt = exactTopK(s.base, s.queries, dim, 20)
	return s
}

func TestOrderBase(t *testing.T) {
	base := []int{9, 3, 7, 1}
	got, err := orderBase(base, orderFile)
	if err != nil || !slices.Equal(got, []int{1, 3, 7, 9}) {
		t.Fatalf("file order: %v %v", got, err)
	}
	if !slices.Equal(base, []int{9, 3, 7, 1}) {
		t.Fatal("orderBase modified its input")
	}
	if got, _ := orderBase(base, orderRandom); !slices.Equal(got, base) {
		t.Fatalf("random order changed the permutation: %v", got)
	}
	if _, err := orderBase(base, "sorted"); err == nil {
		t.Fatal("unknown order accepted")
	}
	// The queries are the same random sample whatever the order, and never in the base.
	b, q, _ := split(1000, 900, 50, 3)
	fb, _ := orderBase(b, orderFile)
	for _, x := range q {
		if slices.Contains(fb, x) {
			t.Fatalf("query row %d in the file-ordered base", x)
		}
	}
	if gtSeedLabel(1, orderRandom) != "1" || gtSeedLabel(1, orderFile) != "1-file" {
		t.Fatal("ground-truth labels changed: cached files would be orphaned or mixed up")
	}
}

func TestMedianRatio(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Fatalf("median odd = %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median even = %v", got)
	}
	if median(nil) != 0 {
		t.Fatal("median of nothing")
	}
	// Pairs are formed per repetition: a noisy repetition hurts one ratio, not the median.
	a := []float64{100, 50, 110}
	b := []float64{80, 80, 100}
	if got := medianRatio(a, b, nil); got != 1.1 {
		t.Fatalf("medianRatio = %v, want 1.1 (ratios 1.25, 0.625, 1.1)", got)
	}
	if got := medianRatio(a, b, func(i int) float64 { return 2 * b[i] }); got != 0.55 {
		t.Fatalf("medianRatio with an engine rate = %v", got)
	}
	if medianRatio(a, nil, nil) != 0 {
		t.Fatal("ratio without a baseline")
	}
}

// TestInterleavedSchedule: builds alternate whole builds with a rotating start, every
// repetition measures every system, the order rotates, and the ratios are medians of
// per-repetition ratios against the baseline's engine rate.
func TestInterleavedSchedule(t *testing.T) {
	s := fakeSuite(t, 20)
	var log []string
	eng := &fakeSystem{name: "engram-hnsw", log: &log, builds: []float64{2, 4},
		recall: func(ef int) float64 { return min(1, float64(ef)/100) },
		qps: func(ef int, mode timeMode, call int) float64 {
			return 1000 * float64(call) // grows call after call: ratios must pair like with like
		}}
	lib := &fakeSystem{name: "hnswlib", log: &log, builds: []float64{1, 1},
		recall: func(ef int) float64 { return min(1, float64(ef)/200) },
		qps: func(ef int, mode timeMode, call int) float64 {
			if mode == mode1Batch {
				return 600 * float64(call) // its engine rate beats its per-call rate
			}
			return 500 * float64(call)
		}}
	var rows []result
	h := &harness{s: s, members: []*member{{sys: eng}, {sys: lib}}, emit: func(r result) { rows = append(rows, r) }}
	if err := h.build(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"build engram-hnsw", "build hnswlib", "build hnswlib", "build engram-hnsw"}; !slices.Equal(log, want) {
		t.Fatalf("build order %v, want %v", log, want)
	}
	log = nil
	s.efs = []int{50}
	if err := h.sweep(); err != nil {
		t.Fatal(err)
	}
	// Per repetition: one-thread for both, the batch for hnswlib, all-threads for both,
	// starting at the next system each repetition.
	want := []string{
		"engram-hnsw", "hnswlib", "hnswlib", "engram-hnsw", "hnswlib",
		"hnswlib", "engram-hnsw", "hnswlib", "hnswlib", "engram-hnsw",
		"engram-hnsw", "hnswlib", "hnswlib", "engram-hnsw", "hnswlib",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("measurement order\n%v\nwant\n%v", log, want)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	e := rows[0]
	if e.System != "engram-hnsw" || e.Baseline != "hnswlib" || len(e.QPS1ThreadRuns) != 3 || len(e.QPSAllThreadsRuns) != 3 {
		t.Fatalf("row %+v", e)
	}
	if e.RecallAt10 != 0.5 || rows[1].RecallAt10 != 0.25 {
		t.Fatalf("recall %v / %v, want 0.5 / 0.25", e.RecallAt10, rows[1].RecallAt10)
	}
	// Calls are counted per system. Rep 0: engram's call 1 (1000) against hnswlib's
	// max(per-call 500×1, batch 600×2) = 1200; rep 1 (hnswlib first): engram call 3 (3000)
	// against max(500×4, 600×5) = 3000; rep 2: engram call 5 (5000) against max(500×7, 600×8).
	r0, r1, r2 := 1000.0/1200, 3000.0/3000, 5000.0/4800
	if got, want := e.QPS1ThreadRatio, median([]float64{r0, r1, r2}); math.Abs(got-want) > 1e-12 || want != 1 {
		t.Fatalf("qps_1thread_ratio %v, want %v", got, want)
	}
	// All threads: engram calls 2, 4, 6 against hnswlib's calls 3, 6, 9 (500 each).
	if got, want := e.QPSAllThreadsRatio, 4000.0/3000; math.Abs(got-want) > 1e-12 {
		t.Fatalf("qps_all_threads_ratio %v, want %v", got, want)
	}
	// Builds: engram 100 and 50 vectors/s against hnswlib's 200 and 200.
	if e.BuildRatio != 0.375 || e.BuildPerS != 75 || !slices.Equal(e.BuildPerSRuns, []float64{100, 50}) {
		t.Fatalf("build ratio %v per_s %v runs %v", e.BuildRatio, e.BuildPerS, e.BuildPerSRuns)
	}
	if rows[1].QPS1ThreadRatio != 0 || rows[1].Baseline != "" {
		t.Fatal("the baseline has a ratio against itself")
	}
}

// TestLowestEf: the target search finds the exact lowest ef between grid points, and past
// the grid.
func TestLowestEf(t *testing.T) {
	s := fakeSuite(t, 100)
	var log []string
	step := func(at int) func(int) float64 {
		return func(ef int) float64 {
			if ef >= at {
				return 0.95
			}
			return 0.9
		}
	}
	m := &member{sys: &fakeSystem{name: "x", log: &log, recall: step(37)}}
	h := &harness{s: s, members: []*member{m}}
	s.efs = []int{16, 64, 10, 128}
	for _, c := range []struct{ at, want int }{{37, 37}, {5, 10}, {64, 64}, {300, 300}, {5000, 0}} {
		m.recall = nil
		m.sys.(*fakeSystem).recall = step(c.at)
		got, err := h.lowestEf(m, 0.95)
		if err != nil || got != c.want {
			t.Fatalf("recall steps up at ef %d: lowestEf = %d (%v), want %d", c.at, got, err, c.want)
		}
	}
}

// TestPythonWorker runs the real worker against Debian's hnswlib and faiss when they are
// installed (scripts/install-peers.sh); it needs no network.
func TestPythonWorker(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import hnswlib, faiss, numpy").Run(); err != nil {
		t.Skipf("python peers not installed: %v", err)
	}
	s := fakeSuite(t, 30)
	s.python = python
	defer s.cleanup()
	for _, p := range []*workerSystem{{name: "hnswlib", script: "hnswlib"}, {name: "faiss-flat", script: "faiss", exact: true}} {
		for range 2 { // a rebuild replaces the index
			info, err := p.Build(s)
			if err != nil {
				t.Fatal(err)
			}
			if info.Seconds <= 0 || info.BytesPerVector < float64(4*s.dim) {
				t.Fatalf("%s: build info %+v", p.name, info)
			}
		}
		ids, err := p.IDs(s, 200)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.recallAt10(ids, recallK); r < 0.99 {
			t.Fatalf("%s: recall %v on 200 vectors at ef 200", p.name, r)
		}
		for _, mode := range []timeMode{mode1Thread, mode1Batch, modeAll} {
			q, ok, err := p.Time(s, 200, mode)
			if err != nil || !ok || q <= 0 {
				t.Fatalf("%s mode %d: %v %v %v", p.name, mode, q, ok, err)
			}
		}
	}
	if err := s.worker.call(map[string]any{"cmd": "nonsense"}, nil); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("a bad request: %v", err)
	}
	// The worker survives a failed request.
	if _, _, err := (&workerSystem{name: "hnswlib", script: "hnswlib", w: s.worker}).Time(s, 10, mode1Thread); err != nil {
		t.Fatal(err)
	}
	dir := s.peerDir
	s.cleanup()
	s.worker, s.peerDir = nil, ""
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("peer dir %s left behind: %v", dir, err)
	}
}
