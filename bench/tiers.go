package main

// `tiers`: a store far larger than its hot tier. It imports n synthetic memories into one
// space whose hot tier holds --hot of them, with durable BatchRemember(1000) calls and the
// background migration running, then archives the oldest --cold-frac of them by predicate,
// and reports:
//
//   - resident memory (VmRSS, split into anonymous and file-backed pages) beside the budget
//     1.25 × H × h + 0.5 × W × h + 0.05 × C × 4d, for H / W / C memories hot / warm / cold,
//     d the dimension and h = 4d + 200 bytes (a hot memory's vector and graph);
//   - recall@10 of the default query (hot and warm together) against brute force over both,
//     and its rate beside the rate of hot-only queries; recall@10 of hot-only queries
//     against a store holding only the hot memories (same queries, same graph parameters);
//   - the import rate beside the rate of the same import into an untiered space (at the end
//     of the run; --skip-untiered leaves it out), migration and archive throughput.
//
//	go run . tiers [--n 1000000] [--dim 384] [--hot 100000] [--json] [--skip-untiered]
//
// The synthetic data is not isotropic noise (whose nearest neighbours are ties): each
// vector is a point of a 32-dimensional Gaussian mixture (4096 clusters, --spread around
// their centres), lifted into dim dimensions by a fixed random projection, plus a little
// full-dimensional noise — a low intrinsic dimension like real embeddings. Vector i depends
// only on (seed, i), so queries are fresh draws of the same distribution. --data glove runs
// the same steps on the real GloVe-derived set (100-d) instead, for recall on real data.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
	"github.com/viterin/vek/vek32"
)

type tiersResult struct {
	Data        string `json:"data"`
	N           int    `json:"n"`
	Dim         int    `json:"dim"`
	HotCapacity int    `json:"hot_capacity"`
	Threads     int    `json:"threads"`
	// Tiers after the import and the archive step: hot, warm, cold.
	Tiers [3]int64 `json:"tiers"`

	ImportPerS float64 `json:"import_per_s"`
	ImportS    float64 `json:"import_s"`
	// IngestUntieredPerS is the same import into a space without tiering (0: skipped).
	IngestUntieredPerS float64 `json:"ingest_untiered_per_s"`
	// The CPU time (user + system) of each import, migration included: on a shared machine,
	// the work each did whatever else ran meanwhile.
	ImportCPUS    float64 `json:"import_cpu_s"`
	UntieredCPUS  float64 `json:"ingest_untiered_cpu_s"`
	BlockedWrites uint64  `json:"import_blocked_writes"` // calls that waited for hot room
	BlockedS      float64 `json:"import_blocked_s"`
	ArchivePerS   float64 `json:"archive_where_per_s"`
	// MigrationPerS is the demotions of the background migration during the import divided
	// by the time its cycles took (moves per second of migration work, concurrent with the
	// import); PromotionPerS is an explicit Migrate of queued promotions after the queries.
	MigrationPerS float64 `json:"migration_per_s"`
	Demoted       uint64  `json:"demoted"`
	PromotionPerS float64 `json:"promotion_per_s"`
	Promoted      int     `json:"promoted"`

	RSSBytes     int64 `json:"rss_bytes"`
	RSSAnonBytes int64 `json:"rss_anon_bytes"`
	RSSFileBytes int64 `json:"rss_file_bytes"`
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	HeapBytes    int64 `json:"heap_inuse_bytes"`
	IndexBytes   int64 `json:"hot_index_bytes"` // the graph's own estimate of its heap
	WarmBytes    int64 `json:"warm_index_bytes"`
	BudgetBytes  int64 `json:"budget_bytes"`
	FileBytes    int64 `json:"file_bytes"`

	Queries int `json:"queries"`
	// The default query (hot and warm together) against brute force over both, and
	// hot-only queries (tier.Of(tier.Hot)) in the same run.
	RecallDefault float64 `json:"recall_default"`
	QPSDefault    float64 `json:"qps_default"`
	QPSHot        float64 `json:"qps_hot"`
	// Hot-only queries against brute force over the hot memories, in the tiered store and
	// in a store holding only those memories; RecallHotDelta is the second minus the first.
	RecallHot          float64  `json:"recall_hot"`
	RecallHotOnlyStore float64  `json:"recall_hot_only_store"`
	RecallHotDelta     float64  `json:"recall_hot_delta"`
	HotOnlyStoreQPS    float64  `json:"hot_only_store_qps"`
	RecallWarm         float64  `json:"recall_warm"` // warm-only queries against brute force over warm
	WarmQPS            float64  `json:"warm_qps"`
	ReopenS            float64  `json:"reopen_s"`
	TiersAfterReopen   [3]int64 `json:"tiers_after_reopen"`
	WarmLoadedFrom     string   `json:"warm_loaded_from"`
}

func cmdTiers(args []string) error {
	fs := flag.NewFlagSet("tiers", flag.ExitOnError)
	n := fs.Int("n", 1_000_000, "memories to import")
	dim := fs.Int("dim", 384, "embedding dimension")
	hot := fs.Int("hot", 100_000, "hot capacity")
	coldFrac := fs.Float64("cold-frac", 0.2, "fraction of the memories (the oldest) archived to cold after the import")
	queries := fs.Int("queries", 200, "queries for recall and QPS")
	seed := fs.Uint64("seed", 7, "data seed")
	data := fs.String("data", "synthetic", "synthetic (see --spread), or glove: the real 100-d GloVe-derived set (all 341,479 vectors but the queries; --n and --dim are then set by the data)")
	cache := fs.String("cache", defaultCacheDir(), "data set cache, for --data glove (env ENGRAM_BENCH_CACHE)")
	spread := fs.Float64("spread", 1.0, "spread of the points around their cluster centre in the latent space (centres have spread 1)")
	asJSON := fs.Bool("json", false, "one JSON object instead of a table")
	skipUntiered := fs.Bool("skip-untiered", false, "leave out the untiered import (ingest_untiered_per_s) that ends the run")
	dir := fs.String("dir", "", "work directory (default: a temp dir, removed afterwards)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile at the resident-memory measurement to this file")
	fs.Parse(args)
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "engram-tiers"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	path := filepath.Join(work, "tiers.db")
	os.Remove(path)
	var src vectorSource = newLatentGen(*seed, *dim, *spread)
	if *data == "glove" {
		words, _, _, err := loadGlove(*cache)
		if err != nil {
			return err
		}
		*n = len(words) - *queries
		base, query, d, err := loadSplit(*cache, *n, *queries, *seed)
		if err != nil {
			return err
		}
		*dim, src = d, rowsSource{rows: base, queries: query, dim: d}
	} else if *data != "synthetic" {
		return fmt.Errorf("--data %q: want synthetic or glove", *data)
	}
	res := tiersResult{Data: *data, N: *n, Dim: *dim, HotCapacity: *hot, Threads: runtime.GOMAXPROCS(0), Queries: *queries}
	ctx := context.Background()

	// 1. Import: durable batches of 1000, migration in the background (every second).
	s, err := engram.Open(path)
	if err != nil {
		return err
	}
	policy := tier.Policy{HotCapacity: *hot}
	sp, err := s.Space(ctx, "mem", engram.WithDimension(*dim), engram.WithIndex(engram.IndexHNSW), engram.WithTiering(policy))
	if err != nil {
		return err
	}
	// Memories are history: CreatedAt runs over the past year in import order, so the
	// oldest are the first candidates for demotion and archival.
	end := time.Now().Add(-time.Hour)
	span := 365 * 24 * time.Hour
	created := func(i int) time.Time { return end.Add(-span + time.Duration(float64(span)*float64(i)/float64(*n))) }
	start, cpu := time.Now(), cpuTime()
	batch := make([]engram.Memory, 1000)
	for off := 0; off < *n; off += len(batch) {
		b := batch[:min(len(batch), *n-off)]
		fill(src, b, off, created)
		r, err := sp.BatchRemember(ctx, b)
		if err != nil || r.Failed > 0 {
			return fmt.Errorf("import at %d: %v %v", off, err, r.Err())
		}
		if every := max(*n/20/1000, 1) * 1000; off%every == 0 {
			st := sp.Stats()
			rss, anon, file, peak := procStatus()
			logf("imported %d: tiers %v, %s, demoted %d; rss %s (anon %s, file %s, peak %s)", off+len(b), st.Tiers, st.Tiering.State,
				st.Tiering.Demoted, mb(rss), mb(anon), mb(file), mb(peak))
		}
	}
	res.ImportS = time.Since(start).Seconds()
	// Keep only the queries: a loaded data set must not count in the store's resident set.
	src = src.queriesOnly(*queries)
	res.ImportPerS = float64(*n) / res.ImportS
	if _, err := sp.Migrate(ctx); err != nil { // settle below the high watermark
		return err
	}
	res.ImportCPUS = (cpuTime() - cpu).Seconds()
	st := sp.Stats()
	res.Demoted = st.Tiering.Demoted
	if st.Tiering.MigrationTime > 0 {
		res.MigrationPerS = float64(st.Tiering.Demoted) / st.Tiering.MigrationTime.Seconds()
	}
	res.BlockedWrites, res.BlockedS = st.Tiering.BlockedWrites, st.Tiering.BlockedTime.Seconds()
	logf("import: %d in %.0fs (%.0f/s); tiers %v; %d demoted at %.0f/s of migration", *n, res.ImportS, res.ImportPerS, st.Tiers, res.Demoted, res.MigrationPerS)

	// 2. Archive the oldest memories by predicate.
	if *coldFrac > 0 {
		cutoff := created(int(*coldFrac * float64(*n)))
		t := time.Now()
		moved, err := sp.ArchiveWhere(ctx, 1000, func(m engram.Memory) bool { return m.CreatedAt.Before(cutoff) })
		if err != nil {
			return err
		}
		res.ArchivePerS = float64(moved) / time.Since(t).Seconds()
		logf("archived %d older than %s at %.0f/s", moved, cutoff.Format(time.DateOnly), res.ArchivePerS)
	}

	// 3. Resident memory, at rest after a collection.
	runtime.GC()
	debug.FreeOSMemory()
	st = sp.Stats()
	res.Tiers = st.Tiers
	res.IndexBytes, res.WarmBytes = st.IndexBytes, st.Tiering.WarmBytes
	// The budget of issue 15: with h = 4d + 200 bytes, a hot memory's vector and graph,
	// 1.25 × H × h + 0.5 × W × h + 0.05 × C × 4d — the warm tier, searchable, costs at
	// most half of holding it hot. Everything else — the Go runtime, bbolt, maps — must fit
	// in the margins.
	h := float64(4**dim + 200)
	res.BudgetBytes = int64(1.25*float64(st.Tiers[0])*h + 0.5*float64(st.Tiers[1])*h + 0.05*float64(st.Tiers[2])*float64(4**dim))
	res.RSSBytes, res.RSSAnonBytes, res.RSSFileBytes, res.PeakRSSBytes = procStatus()
	if *memProfile != "" {
		if f, err := os.Create(*memProfile); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapBytes = int64(ms.HeapInuse)
	logf("rss %s (anon %s, file %s, peak %s), heap %s; budget %s (hot index %s, warm codes %s)",
		mb(res.RSSBytes), mb(res.RSSAnonBytes), mb(res.RSSFileBytes), mb(res.PeakRSSBytes), mb(res.HeapBytes),
		mb(res.BudgetBytes), mb(res.IndexBytes), mb(res.WarmBytes))
	if err := s.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		res.FileBytes = fi.Size()
	}

	// 4. Reopen without background migration, so the queries see a fixed placement (recalls
	// of warm memories queue promotions; step 6 runs them).
	t := time.Now()
	if s, err = engram.Open(path, engram.WithMigrateInterval(0)); err != nil {
		return err
	}
	defer s.Close()
	res.ReopenS = time.Since(t).Seconds()
	if sp, err = s.LookupSpace("mem"); err != nil {
		return err
	}
	st = sp.Stats()
	res.TiersAfterReopen, res.WarmLoadedFrom = st.Tiers, st.Tiering.WarmLoadedFrom
	logf("reopen: %.1fs, tiers %v, warm index from %s", res.ReopenS, res.TiersAfterReopen, res.WarmLoadedFrom)

	// 5. Ground truth by brute force over the records, per tier, and the hot-only store.
	qs := make([][]float32, *queries)
	for i := range qs {
		qs[i] = src.query(i)
	}
	gtHot, gtHotWarm, gtWarm := newIDTopK(len(qs), recallK), newIDTopK(len(qs), recallK), newIDTopK(len(qs), recallK)
	var hotMems []engram.Memory
	t = time.Now()
	if err := scanTiers(ctx, sp, qs, func(m engram.Memory, sims []float32) {
		switch m.Tier {
		case engram.Hot:
			gtHot.offer(sims, m.ID)
			gtHotWarm.offer(sims, m.ID)
			hotMems = append(hotMems, engram.Memory{ID: m.ID, Embedding: m.Embedding, Confidence: m.Confidence, CreatedAt: m.CreatedAt})
		case engram.Warm:
			gtHotWarm.offer(sims, m.ID)
			gtWarm.offer(sims, m.ID)
		}
	}); err != nil {
		return err
	}
	logf("brute force over %d records for %d queries: %.1fs", *n, len(qs), time.Since(t).Seconds())

	s2, err := engram.Open(filepath.Join(work, "hot-only.db"), engram.WithNoSync())
	if err != nil {
		return err
	}
	defer s2.Close()
	only, err := s2.Space(ctx, "mem", engram.WithDimension(*dim), engram.WithIndex(engram.IndexHNSW))
	if err != nil {
		return err
	}
	for off := 0; off < len(hotMems); off += 1000 {
		if r, err := only.BatchRemember(ctx, hotMems[off:min(off+1000, len(hotMems))]); err != nil || r.Failed > 0 {
			return fmt.Errorf("hot-only store: %v %v", err, r.Err())
		}
	}
	hotMems = nil

	// 6. Recall and query rates.
	measure := func(sp *engram.Space, tiers tier.Set, gt *idTopK) (recall, qps float64, err error) {
		got := make([][]string, len(qs))
		t := time.Now()
		for i, q := range qs {
			hits, err := sp.Recall(ctx, engram.Query{Embedding: q, K: recallK, MinSimilarity: -1, SimilarityOnly: true, Tiers: tiers})
			if err != nil {
				return 0, 0, err
			}
			for _, h := range hits {
				got[i] = append(got[i], h.Memory.ID)
			}
		}
		return gt.recall(got), float64(len(qs)) / time.Since(t).Seconds(), nil
	}
	if res.RecallHotOnlyStore, res.HotOnlyStoreQPS, err = measure(only, 0, gtHot); err != nil {
		return err
	}
	if res.RecallHot, res.QPSHot, err = measure(sp, tier.Of(tier.Hot), gtHot); err != nil {
		return err
	}
	res.RecallHotDelta = res.RecallHotOnlyStore - res.RecallHot
	if res.RecallWarm, res.WarmQPS, err = measure(sp, tier.Of(tier.Warm), gtWarm); err != nil {
		return err
	}
	if res.RecallDefault, res.QPSDefault, err = measure(sp, tier.Default, gtHotWarm); err != nil {
		return err
	}
	logf("recall@10 default %.4f at %.0f QPS (hot-only queries %.0f QPS: %.2f×); hot %.4f (hot-only store %.4f, Δ %.4f); warm %.4f at %.0f QPS",
		res.RecallDefault, res.QPSDefault, res.QPSHot, res.QPSDefault/res.QPSHot, res.RecallHot, res.RecallHotOnlyStore, res.RecallHotDelta, res.RecallWarm, res.WarmQPS)

	// 7. The recalls queued promotions of the warm hits: one explicit cycle runs them.
	mst, err := sp.Migrate(ctx)
	if err != nil {
		return err
	}
	res.Promoted = mst.Promoted
	if mst.Elapsed > 0 {
		res.PromotionPerS = float64(mst.Promoted+mst.Demoted) / mst.Elapsed.Seconds()
	}
	logf("promotion cycle: %+v", mst)

	// 8. The same import into a space without tiering, for the ingest rate.
	if !*skipUntiered {
		s.Close()
		s2.Close()
		if res.IngestUntieredPerS, res.UntieredCPUS, err = importUntiered(ctx, filepath.Join(work, "untiered.db"), *n, *dim, *data, *cache, *seed, *queries, *spread, created); err != nil {
			return err
		}
		logf("untiered import: %.0f/s (%.0f CPU-s); tiered %.0f/s (%.0f CPU-s): %.2f×", res.IngestUntieredPerS, res.UntieredCPUS, res.ImportPerS, res.ImportCPUS, res.ImportPerS/res.IngestUntieredPerS)
	}

	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	printTiers(res)
	return nil
}

func printTiers(r tiersResult) {
	fmt.Printf("n=%d dim=%d hot capacity=%d threads=%d; tiers hot/warm/cold %v; file %s\n",
		r.N, r.Dim, r.HotCapacity, r.Threads, r.Tiers, mb(r.FileBytes))
	fmt.Printf("import (durable BatchRemember 1000, migration on)  %9.0f memories/s (%.0f s)\n", r.ImportPerS, r.ImportS)
	if r.IngestUntieredPerS > 0 {
		fmt.Printf("the same into an untiered space                    %9.0f memories/s (tiered/untiered %.2f)\n", r.IngestUntieredPerS, r.ImportPerS/r.IngestUntieredPerS)
	}
	fmt.Printf("migration (demotions during import)                %9.0f memories/s\n", r.MigrationPerS)
	fmt.Printf("ArchiveWhere                                       %9.0f memories/s\n", r.ArchivePerS)
	fmt.Printf("promotion cycle (%d promoted)                     %9.0f moves/s\n", r.Promoted, r.PromotionPerS)
	fmt.Printf("resident: rss %s (anon %s + file %s), peak %s; budget %s → rss/budget %.2f\n",
		mb(r.RSSBytes), mb(r.RSSAnonBytes), mb(r.RSSFileBytes), mb(r.PeakRSSBytes), mb(r.BudgetBytes), float64(r.RSSBytes)/float64(r.BudgetBytes))
	fmt.Printf("recall@10 default (hot + warm) %.4f at %.0f QPS; hot-only queries %.0f QPS (default/hot %.2f)\n",
		r.RecallDefault, r.QPSDefault, r.QPSHot, r.QPSDefault/r.QPSHot)
	fmt.Printf("recall@10 hot %.4f vs hot-only store %.4f (Δ %.4f); warm only %.4f at %.0f QPS\n",
		r.RecallHot, r.RecallHotOnlyStore, r.RecallHotDelta, r.RecallWarm, r.WarmQPS)
	fmt.Printf("reopen %.1f s, tiers %v, warm index from %s\n", r.ReopenS, r.TiersAfterReopen, r.WarmLoadedFrom)
}

// importUntiered imports the run's memories into a fresh store's space without tiering,
// the same way (durable BatchRemember of 1000, graph index), and returns the rate.
func importUntiered(ctx context.Context, path string, n, dim int, data, cache string, seed uint64, queries int, spread float64, created func(int) time.Time) (perS, cpuS float64, err error) {
	var src vectorSource = newLatentGen(seed, dim, spread)
	if data == "glove" {
		base, query, d, err := loadSplit(cache, n, queries, seed)
		if err != nil {
			return 0, 0, err
		}
		src = rowsSource{rows: base, queries: query, dim: d}
	}
	s, err := engram.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(path)
	defer s.Close()
	sp, err := s.Space(ctx, "mem", engram.WithDimension(dim), engram.WithIndex(engram.IndexHNSW))
	if err != nil {
		return 0, 0, err
	}
	batch := make([]engram.Memory, 1000)
	start, cpu := time.Now(), cpuTime()
	for off := 0; off < n; off += len(batch) {
		b := batch[:min(len(batch), n-off)]
		fill(src, b, off, created)
		if r, err := sp.BatchRemember(ctx, b); err != nil || r.Failed > 0 {
			return 0, 0, fmt.Errorf("untiered import at %d: %v %v", off, err, r.Err())
		}
		if every := max(n/20/1000, 1) * 1000; off%every == 0 {
			logf("untiered: imported %d", off+len(b))
		}
	}
	return float64(n) / time.Since(start).Seconds(), (cpuTime() - cpu).Seconds(), nil
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

// procStatus reads the resident set of this process from /proc/self/status (Linux).
func procStatus() (rss, anon, file, peak int64) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return
}

// latentGen draws the synthetic vectors (see the file comment).
type latentGen struct {
	seed    uint64
	spread  float64
	dim     int
	centres [][]float32 // clusters in the latent space
	proj    []float32   // dim × latentDim
}

const (
	latentDim      = 32
	latentClusters = 4096
)

func newLatentGen(seed uint64, dim int, spread float64) *latentGen {
	r := rand.New(rand.NewPCG(seed, 0xC0FFEE))
	g := &latentGen{seed: seed, spread: spread, dim: dim, proj: make([]float32, dim*latentDim)}
	for i := range g.proj {
		g.proj[i] = float32(r.NormFloat64() / math.Sqrt(latentDim))
	}
	g.centres = make([][]float32, latentClusters)
	for c := range g.centres {
		g.centres[c] = make([]float32, latentDim)
		for j := range g.centres[c] {
			g.centres[c][j] = float32(r.NormFloat64())
		}
	}
	return g
}

func (g *latentGen) vector(i int) []float32 { return g.draw(i, nil) }

// draw returns vector i (unit length), reusing dst when it has room.
func (g *latentGen) draw(i int, dst []float32) []float32 {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)+1))
	c := g.centres[r.IntN(latentClusters)]
	var z [latentDim]float32
	for j := range z {
		z[j] = c[j] + float32(g.spread*r.NormFloat64())
	}
	if cap(dst) < g.dim {
		dst = make([]float32, g.dim)
	}
	dst = dst[:g.dim]
	noise := 0.25 / math.Sqrt(float64(g.dim))
	for d := range dst {
		dst[d] = vek32.Dot(g.proj[d*latentDim:(d+1)*latentDim], z[:]) + float32(noise*r.NormFloat64())
	}
	vek32.DivNumber_Inplace(dst, vek32.Norm(dst))
	return dst
}

// vectorSource provides the memories' vectors and the queries.
type vectorSource interface {
	vector(i int) []float32         // memory i's vector (unit length)
	query(i int) []float32          // query i, never one of the memories
	queriesOnly(n int) vectorSource // the same source without the memories' vectors
}

func (g *latentGen) query(i int) []float32 { return g.draw(1<<40+i, nil) }

func (g *latentGen) queriesOnly(int) vectorSource { return g } // it holds no data

// rowsSource serves a loaded data set's split.
type rowsSource struct {
	rows, queries []float32
	dim           int
}

func (r rowsSource) vector(i int) []float32 { return r.rows[i*r.dim : (i+1)*r.dim] }
func (r rowsSource) query(i int) []float32  { return r.queries[i*r.dim : (i+1)*r.dim] }

func (r rowsSource) queriesOnly(n int) vectorSource {
	return rowsSource{queries: slices.Clone(r.queries[:n*r.dim]), dim: r.dim}
}

// fill writes memories off … off+len(b)-1 into b, generating in parallel.
func fill(src vectorSource, b []engram.Memory, off int, created func(int) time.Time) {
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for k := w; k < len(b); k += workers {
				i := off + k
				r := rand.New(rand.NewPCG(0x5EED, uint64(i)))
				b[k] = engram.Memory{
					ID:         fmt.Sprintf("m%07d", i),
					Content:    fmt.Sprintf("synthetic memory %d", i),
					Embedding:  src.vector(i),
					Confidence: engram.Confidence(float32(0.2 + 0.8*r.Float64())),
					CreatedAt:  created(i),
				}
			}
		})
	}
	wg.Wait()
}

// scanTiers reads every memory once and hands it with its similarities to each query.
func scanTiers(ctx context.Context, sp *engram.Space, qs [][]float32, visit func(engram.Memory, []float32)) error {
	sims := make([]float32, len(qs))
	for m, err := range sp.All(ctx) {
		if err != nil {
			return err
		}
		for i, q := range qs {
			sims[i] = vek32.Dot(q, m.Embedding)
		}
		visit(m, sims)
	}
	return nil
}

// idTopK keeps, per query, the k best (similarity, id) seen.
type idTopK struct {
	k    int
	rows [][]scoredID
}

type scoredID struct {
	sim float32
	id  string
}

func newIDTopK(queries, k int) *idTopK { return &idTopK{k: k, rows: make([][]scoredID, queries)} }

func (t *idTopK) offer(sims []float32, id string) {
	for q, s := range sims {
		row := t.rows[q]
		if len(row) == t.k && s <= row[t.k-1].sim {
			continue
		}
		i, _ := slices.BinarySearchFunc(row, s, func(e scoredID, s float32) int {
			if e.sim > s {
				return -1
			}
			return 1
		})
		row = slices.Insert(row, i, scoredID{s, id})
		if len(row) > t.k {
			row = row[:t.k]
		}
		t.rows[q] = row
	}
}

// recall is recall@k of got against the kept top k by identity (the vectors are continuous:
// exact ties do not occur).
func (t *idTopK) recall(got [][]string) float64 {
	hits, total := 0, 0
	for q, row := range t.rows {
		if len(row) == 0 {
			continue
		}
		total += len(row)
		want := make(map[string]bool, len(row))
		for _, e := range row {
			want[e.id] = true
		}
		for _, id := range got[q][:min(len(got[q]), len(row))] {
			if want[id] {
				hits++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(hits) / float64(total)
}
