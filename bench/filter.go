package main

// `filter`: filtered recall on GloVe 100k with synthetic metadata. Each memory gets a "cat"
// value: "s50" for 50% of them, "s10" for 10%, "s1" for 1%, "s0.1" for 0.1% (drawn with a
// seeded generator, independent of the vectors), "other" for the rest. For each
// selectivity it reports, against the unfiltered recall of the same run on the same
// queries:
//
//   - recall_at_10: the share of a filtered recall's 10 hits at least as similar as the
//     exact 10th best among the matching memories (minus 1e-5, as `ann` scores);
//   - qps and qps_unfiltered: Recall calls per second on one thread (Query{K: 10} as a
//     user writes it, plus Where: Eq("cat", ...)), the query set repeated for --min-time,
//     best of --repeat, the two measured in alternation so machine noise hits both;
//   - plan: how the store answered (SpaceStats.Filters.Plans over the timed calls):
//     "postings" (only the matching memories scored), "graph" (graph search, filter on
//     candidates), "scan" (the graph gave up and scanned), "exact".
//
//	go run . filter [--n 100000] [--queries 1000] [--json]

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
)

type filterResult struct {
	Selectivity   float64           `json:"selectivity"`
	Matches       int               `json:"matches"`
	RecallAt10    float64           `json:"recall_at_10"`
	QPS           float64           `json:"qps"`
	QPSUnfiltered float64           `json:"qps_unfiltered"`
	Ratio         float64           `json:"qps_ratio"`
	Plan          string            `json:"plan"`
	Plans         map[string]uint64 `json:"plans"`
	// Unfiltered recall@10 of the same run, for reference.
	RecallUnfiltered float64 `json:"recall_at_10_unfiltered"`
	N                int     `json:"n"`
	Queries          int     `json:"queries"`
}

var filterSelectivities = []float64{0.5, 0.1, 0.01, 0.001}

func cmdFilter(args []string) error {
	fs := flag.NewFlagSet("filter", flag.ExitOnError)
	n := fs.Int("n", 100000, "base vectors")
	queries := fs.Int("queries", 1000, "held-out query vectors")
	seed := fs.Uint64("seed", 1, "split and category seed")
	minTime := fs.Duration("min-time", time.Second, "minimum duration of each QPS measurement")
	repeat := fs.Int("repeat", 3, "QPS is the best of this many measurements")
	asJSON := fs.Bool("json", false, "one JSON object per selectivity instead of a table")
	cache := fs.String("cache", defaultCacheDir(), "cache directory (env ENGRAM_BENCH_CACHE)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	fs.Parse(args)
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	base, query, dim, err := loadSplit(*cache, *n, *queries, *seed)
	if err != nil {
		return err
	}
	nq := len(query) / dim
	rng := rand.New(rand.NewPCG(*seed, 0xf117e5))
	cats := make([]string, *n)
	for i := range cats {
		x, acc := rng.Float64(), 0.0
		cats[i] = "other"
		for _, s := range filterSelectivities {
			if acc += s; x < acc {
				cats[i] = catOf(s)
				break
			}
		}
	}

	store, err := engram.OpenTemp()
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := context.Background()
	sp, err := store.Space(ctx, "glove", engram.WithDimension(dim))
	if err != nil {
		return err
	}
	start := time.Now()
	const batch = 5000
	for off := 0; off < *n; off += batch {
		mems := make([]engram.Memory, 0, batch)
		for i := off; i < min(off+batch, *n); i++ {
			mems = append(mems, engram.Memory{Embedding: base[i*dim : (i+1)*dim], Metadata: map[string]string{"cat": cats[i]}})
		}
		res, err := sp.BatchRemember(ctx, mems)
		if err != nil {
			return err
		}
		if res.Failed > 0 {
			return res.Err()
		}
	}
	logf("stored %d memories in %s", *n, time.Since(start).Round(time.Millisecond))

	// Ground truth: the exact 10th-best similarity per query, unfiltered and per category.
	t := time.Now()
	unfilteredGT := exactTopK(base, query, dim, recallK)
	gts := map[float64]*groundTruth{}
	rows := map[float64][]int{}
	for _, s := range filterSelectivities {
		var sub []float32
		for i, c := range cats {
			if c == catOf(s) {
				rows[s] = append(rows[s], i)
				sub = append(sub, base[i*dim:(i+1)*dim]...)
			}
		}
		gts[s] = exactTopK(sub, query, dim, recallK)
	}
	logf("exact filtered top-%d for %d queries at %d selectivities: %s", recallK, nq, len(filterSelectivities), time.Since(t).Round(time.Millisecond))

	queryOf := func(qi int) []float32 { return query[qi*dim : (qi+1)*dim] }
	recallOf := func(where engram.Filter, gt *groundTruth) (float64, error) {
		hits := 0
		for qi := 0; qi < nq; qi++ {
			res, err := sp.Recall(ctx, engram.Query{Embedding: queryOf(qi), K: recallK, Where: where})
			if err != nil {
				return 0, err
			}
			_, scores := gt.row(qi)
			threshold := scores[min(recallK, len(scores))-1] - scoreTolerance
			for _, h := range res {
				if h.Similarity >= threshold {
					hits++
				}
			}
		}
		return float64(hits) / float64(nq*recallK), nil
	}
	qpsOnce := func(where engram.Filter) (float64, error) {
		runtime.GC()
		calls := 0
		start := time.Now()
		for deadline := start.Add(*minTime); time.Now().Before(deadline); {
			for qi := 0; qi < nq; qi++ {
				if _, err := sp.Recall(ctx, engram.Query{Embedding: queryOf(qi), K: recallK, Where: where}); err != nil {
					return 0, err
				}
			}
			calls += nq
		}
		return float64(calls) / time.Since(start).Seconds(), nil
	}
	// qpsPair measures the unfiltered and the filtered rate in alternation, best of
	// --repeat each, so drift on the shared machine hits both alike.
	qpsPair := func(where engram.Filter) (unfiltered, filtered float64, err error) {
		for range max(*repeat, 1) {
			u, err := qpsOnce(nil)
			if err != nil {
				return 0, 0, err
			}
			f, err := qpsOnce(where)
			if err != nil {
				return 0, 0, err
			}
			unfiltered, filtered = max(unfiltered, u), max(filtered, f)
		}
		return unfiltered, filtered, nil
	}

	recallUnfiltered, err := recallOf(nil, unfilteredGT)
	if err != nil {
		return err
	}
	logf("unfiltered: recall@10 %.4f", recallUnfiltered)

	var results []filterResult
	enc := json.NewEncoder(os.Stdout)
	for _, s := range filterSelectivities {
		where := engram.Eq("cat", catOf(s))
		r := filterResult{Selectivity: s, Matches: len(rows[s]), RecallUnfiltered: recallUnfiltered, N: *n, Queries: nq}
		if r.RecallAt10, err = recallOf(where, gts[s]); err != nil {
			return err
		}
		before := sp.Stats().Filters.Plans
		if r.QPSUnfiltered, r.QPS, err = qpsPair(where); err != nil {
			return err
		}
		r.Ratio = r.QPS / r.QPSUnfiltered
		r.Plans = map[string]uint64{}
		for name, c := range sp.Stats().Filters.Plans {
			if d := c - before[name]; d > 0 {
				r.Plans[name] = d
			}
		}
		r.Plan = planSummary(r.Plans)
		logf("selectivity %g (%d matches): recall@10 %.4f, %.0f QPS (%.2f× unfiltered), plan %s", s, r.Matches, r.RecallAt10, r.QPS, r.Ratio, r.Plan)
		results = append(results, r)
		if *asJSON {
			enc.Encode(r)
		}
	}
	if !*asJSON {
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "selectivity\tmatches\trecall@10\tqps\tqps unfiltered\tratio\tplan\t")
		for _, r := range results {
			fmt.Fprintf(tw, "%g%%\t%d\t%.4f\t%.0f\t%.0f\t%.2f\t%s\t\n", r.Selectivity*100, r.Matches, r.RecallAt10, r.QPS, r.QPSUnfiltered, r.Ratio, r.Plan)
		}
		tw.Flush()
	}
	return nil
}

func catOf(s float64) string { return fmt.Sprintf("s%g", s*100) }

// planSummary names the plan that answered, or lists them with their counts when several
// did ("graph:990,scan:10").
func planSummary(plans map[string]uint64) string {
	names := make([]string, 0, len(plans))
	for name := range plans {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return names[0]
	}
	slices.SortStableFunc(names, func(a, b string) int { return int(plans[b]) - int(plans[a]) })
	var parts []string
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s:%d", name, plans[name]))
	}
	return strings.Join(parts, ",")
}
