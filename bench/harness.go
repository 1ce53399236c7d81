package main

// The interleaved schedule of `ann`. The machine is shared and noisy: a busy minute that
// lands on one system and not the other used to swing the engram/hnswlib ratio from 0.54×
// to 1.32× between runs. So no system is measured minutes apart from another:
//
//   - Builds alternate whole builds, --builds rounds; round r starts at system r (mod the
//     number of systems), so each system takes every position in turn. Each system keeps
//     its last build for the queries.
//   - For every ef, every repetition measures every system once per mode (one thread;
//     one-thread batch for Python peers; --threads threads), the order rotating by one
//     system per repetition as well.
//   - A ratio is computed per repetition (or build round) from the two systems' runs of
//     that repetition, and the median of those ratios is reported, beside the raw runs.
//
// Recall targets (--targets): for each graph system the lowest ef whose recall@10 reaches
// the target is found on the sweep's grid and then by bisection between grid points (a
// recall pass is cheap beside a timing), and the systems are timed against each other at
// their own efs, interleaved the same way.

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// member is one system of the run with everything measured about it so far.
type member struct {
	sys       system
	info      buildInfo // the last build
	buildRuns []float64 // vectors per second, one per round
	recall    map[int]float64
}

// runs holds one system's measurements at one ef, one entry per repetition.
type runs struct {
	one, batch1, all []float64
}

// engine1 is the repetition's one-thread rate used as a baseline: the better of per-call
// and one-batch (a Python peer's engine without the interpreter's call overhead).
func (r runs) engine1(i int) float64 {
	v := r.one[i]
	if i < len(r.batch1) {
		v = max(v, r.batch1[i])
	}
	return v
}

// harness runs the schedule over the systems of one suite.
type harness struct {
	s       *suite
	members []*member
	emit    func(result)
}

func (h *harness) graphs() []*member {
	var out []*member
	for _, m := range h.members {
		if !m.sys.Exact() {
			out = append(out, m)
		}
	}
	return out
}

func (h *harness) exacts() []*member {
	var out []*member
	for _, m := range h.members {
		if m.sys.Exact() {
			out = append(out, m)
		}
	}
	return out
}

// baselineOf names the system m is compared with: hnswlib for graphs, faiss for exact
// scans, if they run (nil otherwise, and for the baseline itself).
func (h *harness) baselineOf(m *member) *member {
	want := "hnswlib"
	if m.sys.Exact() {
		want = "faiss-flat"
	}
	for _, b := range h.members {
		if b.sys.Name() == want && b != m {
			return b
		}
	}
	return nil
}

func (h *harness) byName(name string) *member {
	for _, m := range h.members {
		if m.sys.Name() == name {
			return m
		}
	}
	return nil
}

// build runs the interleaved build rounds.
func (h *harness) build() error {
	n := float64(h.s.n())
	for r := 0; r < max(h.s.builds, 1); r++ {
		for i := range h.members {
			m := h.members[(i+r)%len(h.members)]
			info, err := m.sys.Build(h.s)
			if err != nil {
				return err
			}
			m.info = info
			m.buildRuns = append(m.buildRuns, n/info.Seconds)
			logf("build %d/%d %-12s %7.1fs  %8.0f vectors/s", r+1, h.s.builds, m.sys.Name(), info.Seconds, n/info.Seconds)
		}
	}
	return nil
}

// recallAt returns m's recall@10 at ef, from cache or by one pass over the queries.
func (h *harness) recallAt(m *member, ef int) (float64, error) {
	if m.recall == nil {
		m.recall = map[int]float64{}
	}
	if r, ok := m.recall[ef]; ok {
		return r, nil
	}
	ids, err := m.sys.IDs(h.s, ef)
	if err != nil {
		return 0, err
	}
	r := h.s.recallAt10(ids, recallK)
	m.recall[ef] = r
	return r, nil
}

// interleave times every member at its own ef (efOf), s.repeat repetitions, alternating
// the systems within each repetition.
func (h *harness) interleave(ms []*member, efOf func(*member) int) (map[*member]*runs, error) {
	out := map[*member]*runs{}
	for _, m := range ms {
		out[m] = &runs{}
	}
	for rep := 0; rep < max(h.s.repeat, 1); rep++ {
		for _, mode := range []timeMode{mode1Thread, mode1Batch, modeAll} {
			for i := range ms {
				m := ms[(i+rep)%len(ms)]
				q, ok, err := m.sys.Time(h.s, efOf(m), mode)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				r := out[m]
				switch mode {
				case mode1Thread:
					r.one = append(r.one, q)
				case mode1Batch:
					r.batch1 = append(r.batch1, q)
				case modeAll:
					r.all = append(r.all, q)
				}
			}
		}
	}
	return out, nil
}

// row assembles m's result at ef from its runs, with ratios against its baseline's runs.
func (h *harness) row(m *member, ef int, recall float64, rs map[*member]*runs) result {
	s := h.s
	r := rs[m]
	bps := median(m.buildRuns)
	res := result{
		System: m.sys.Name(), Params: m.sys.Params(), Ef: ef, RecallAt10: recall,
		QPS1Thread: maxOf(r.one), QPS1Batch: maxOf(r.batch1), QPSAllThreads: maxOf(r.all),
		Threads: s.threads, BuildPerS: bps, BuildSeconds: float64(s.n()) / bps, BuildThreads: m.info.Threads,
		BytesPerVector: m.info.BytesPerVector, BytesMethod: m.info.BytesMethod,
		N: s.n(), Dim: s.dim, Queries: s.nq(), Note: m.info.Note, Order: s.order,
		QPS1ThreadRuns: r.one, QPS1BatchRuns: r.batch1, QPSAllThreadsRuns: r.all, BuildPerSRuns: m.buildRuns,
	}
	if b := h.baselineOf(m); b != nil {
		res.Baseline = b.sys.Name()
		res.BuildRatio = medianRatio(m.buildRuns, b.buildRuns, nil)
		if b.info.BytesPerVector > 0 {
			res.BytesRatio = m.info.BytesPerVector / b.info.BytesPerVector
		}
		if br, ok := rs[b]; ok {
			res.QPS1ThreadRatio = medianRatio(r.one, br.one, br.engine1)
			res.QPSAllThreadsRatio = medianRatio(r.all, br.all, nil)
		}
	}
	if g := h.byName("engram-hnsw"); g != nil && m.sys.Name() == "engram-store" {
		res.BuildRatioHNSW = medianRatio(m.buildRuns, g.buildRuns, nil)
	}
	return res
}

// sweep measures every graph system at every ef, then the exact systems once.
func (h *harness) sweep() error {
	graphs := h.graphs()
	if len(graphs) > 0 {
		for _, ef := range h.s.efs {
			t := time.Now()
			for _, m := range graphs {
				if _, err := h.recallAt(m, ef); err != nil {
					return err
				}
			}
			rs, err := h.interleave(graphs, func(*member) int { return ef })
			if err != nil {
				return err
			}
			for _, m := range graphs {
				h.emit(h.row(m, ef, m.recall[ef], rs))
			}
			logf("ef=%d measured in %.1fs", ef, time.Since(t).Seconds())
		}
	}
	if exacts := h.exacts(); len(exacts) > 0 {
		for _, m := range exacts {
			if _, err := h.recallAt(m, 0); err != nil {
				return err
			}
		}
		rs, err := h.interleave(exacts, func(*member) int { return 0 })
		if err != nil {
			return err
		}
		for _, m := range exacts {
			h.emit(h.row(m, 0, m.recall[0], rs))
		}
	}
	return nil
}

// maxTargetEf bounds the search for an ef reaching a target beyond the sweep's grid.
const maxTargetEf = 4096

// lowestEf returns the lowest ef at which m's recall@10 reaches target (0 if none up to
// maxTargetEf). The sweep's grid gives a bracket, bisection narrows it to one ef; recall
// grows with ef on the whole but not strictly, so this is the lowest ef of the bracket the
// bisection settles on, which is how a user tuning ef would find it.
func (h *harness) lowestEf(m *member, target float64) (int, error) {
	grid := slices.Clone(h.s.efs)
	sort.Ints(grid)
	lo, hi := recallK-1, 0 // recall(lo) < target (ef below k is k), recall(hi) >= target
	for _, ef := range grid {
		r, err := h.recallAt(m, ef)
		if err != nil {
			return 0, err
		}
		if r >= target {
			hi = ef
			break
		}
		lo = ef
	}
	for hi == 0 {
		ef := 2 * max(lo, 1)
		if ef > maxTargetEf {
			return 0, nil
		}
		r, err := h.recallAt(m, ef)
		if err != nil {
			return 0, err
		}
		if r >= target {
			hi = ef
		} else {
			lo = ef
		}
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		r, err := h.recallAt(m, mid)
		if err != nil {
			return 0, err
		}
		if r >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// targets times the graph systems against each other at their lowest efs reaching each
// recall target and emits one row per system and target.
func (h *harness) targets(targets []float64) error {
	graphs := h.graphs()
	if len(graphs) == 0 {
		return nil
	}
	for _, target := range targets {
		efs := map[*member]int{}
		var ms []*member
		for _, m := range graphs {
			ef, err := h.lowestEf(m, target)
			if err != nil {
				return err
			}
			if ef == 0 {
				logf("%s does not reach recall@10 %.2f by ef %d", m.sys.Name(), target, maxTargetEf)
				continue
			}
			efs[m] = ef
			ms = append(ms, m)
		}
		if len(ms) == 0 {
			continue
		}
		rs, err := h.interleave(ms, func(m *member) int { return efs[m] })
		if err != nil {
			return err
		}
		for _, m := range ms {
			res := h.row(m, efs[m], m.recall[efs[m]], rs)
			res.TargetRecall = target
			if b := h.baselineOf(m); b != nil {
				if ef, ok := efs[b]; ok {
					res.BaselineEf, res.BaselineRecall = ef, b.recall[ef]
				} else {
					res.QPS1ThreadRatio, res.QPSAllThreadsRatio = 0, 0 // no baseline timing to pair
				}
			}
			h.emit(res)
		}
	}
	return nil
}

// medianRatio is the median over i of a[i] / b(i), where b(i) is bf(i) if bf is given and
// bs[i] otherwise; 0 if there is nothing to pair.
func medianRatio(a, bs []float64, bf func(int) float64) float64 {
	var rs []float64
	for i := 0; i < min(len(a), len(bs)); i++ {
		d := bs[i]
		if bf != nil {
			d = bf(i)
		}
		if d > 0 {
			rs = append(rs, a[i]/d)
		}
	}
	return median(rs)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

// describe summarises a run's schedule for the log.
func (h *harness) describe() string {
	names := make([]string, len(h.members))
	for i, m := range h.members {
		names[i] = m.sys.Name()
	}
	return fmt.Sprintf("%v, %d build rounds, %d repetitions of %v per measurement", names, h.s.builds, h.s.repeat, h.s.minTime)
}
