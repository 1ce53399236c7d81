package main

// `batch`: write throughput and latency of engram's batch operations against raw bbolt, its
// own index, and chromem-go, plus recall query rate against chromem-go, in one run.
//
//	go run . batch [--budget 1.5s] [--query-n 100000] [--json]
//
// Writes use synthetic memories (engram's synth package: clustered unit vectors, ~100-byte
// content, 4 metadata entries) at 100-d and 768-d; queries use the real GloVe-derived set.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/synth"
	chromem "github.com/philippgille/chromem-go"
	bolt "go.etcd.io/bbolt"
)

type batchResult struct {
	System     string  `json:"system"`
	Op         string  `json:"op"` // "remember" or "query"
	BatchSize  int     `json:"batch_size"`
	Goroutines int     `json:"goroutines"`
	Durable    bool    `json:"durable"`
	Dim        int     `json:"dim"`
	OpsPerS    float64 `json:"ops_per_s"` // memories (or queries) per second
	P50ms      float64 `json:"p50_ms"`    // per call
	P99ms      float64 `json:"p99_ms"`
	Calls      int     `json:"calls"`
	N          int     `json:"n,omitempty"` // memories searched, for queries
	Recall10   float64 `json:"recall_at_10,omitempty"`
	Note       string  `json:"note,omitempty"`
}

func cmdBatch(args []string) error {
	fs := flag.NewFlagSet("batch", flag.ExitOnError)
	budget := fs.Duration("budget", 1500*time.Millisecond, "time spent on each write measurement")
	queryN := fs.Int("query-n", 100000, "memories for the query comparison (0 skips it)")
	queries := fs.Int("queries", 500, "queries for the query comparison")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	cache := fs.String("cache", defaultCacheDir(), "data set cache (for the query comparison)")
	fs.Parse(args)

	work, err := os.MkdirTemp("", "engram-batch")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var results []batchResult
	emit := func(r batchResult) {
		results = append(results, r)
		logf("%-22s %-8s dim=%-3d batch=%-4d g=%-2d %9.0f/s p50 %.2f ms p99 %.2f ms %s", r.System, r.Op, r.Dim, r.BatchSize, r.Goroutines, r.OpsPerS, r.P50ms, r.P99ms, r.Note)
		if *asJSON {
			json.NewEncoder(os.Stdout).Encode(r)
		}
	}
	b := &batchBench{work: work, budget: *budget, emit: emit}
	for _, dim := range []int{100, 768} {
		pool := synth.New(synth.Config{Dim: dim, Seed: 3}).Batch(4000)
		for _, size := range []int{1, 10, 100, 1000} {
			if err := b.engram("engram", pool, dim, size, engram.IndexFlat); err != nil {
				return err
			}
		}
		if err := b.engram("engram-hnsw", pool, dim, 1000, engram.IndexHNSW); err != nil {
			return err
		}
		b.indexOnly(pool, dim)
		for _, size := range []int{1, 1000} {
			if err := b.rawBolt(pool, dim, size); err != nil {
				return err
			}
		}
		if err := b.chromem(pool, dim); err != nil {
			return err
		}
	}
	pool := synth.New(synth.Config{Dim: 100, Seed: 4}).Batch(4000)
	for _, g := range []int{1, 32} {
		if err := b.unary(pool, 100, g); err != nil {
			return err
		}
	}
	if *queryN > 0 {
		if err := b.queries(*cache, *queryN, *queries); err != nil {
			return err
		}
	}
	if !*asJSON {
		printBatchTable(results)
	}
	return nil
}

type batchBench struct {
	work   string
	budget time.Duration
	emit   func(batchResult)
	seq    int
}

func (b *batchBench) path(name string) string {
	b.seq++
	return filepath.Join(b.work, fmt.Sprintf("%s-%d", name, b.seq))
}

// measure calls fn (which handles items memories per call) until the budget is spent, at
// least 5 times, and returns items/s and the per-call latency quantiles.
func (b *batchBench) measure(items int, fn func(call int) error) (rate float64, p50, p99 time.Duration, calls int, err error) {
	var lat []time.Duration
	start := time.Now()
	for calls = 0; calls < 5 || time.Since(start) < b.budget; calls++ {
		t := time.Now()
		if err := fn(calls); err != nil {
			return 0, 0, 0, calls, err
		}
		lat = append(lat, time.Since(t))
	}
	rate = float64(calls*items) / time.Since(start).Seconds()
	return rate, quantileD(lat, 0.5), quantileD(lat, 0.99), calls, nil
}

func quantileD(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

func msOf(d time.Duration) float64 { return float64(d) / 1e6 }

// slice returns the call-th window of size items of pool, wrapping around.
func slice(pool []engram.Memory, call, size int) []engram.Memory {
	off := (call * size) % (len(pool) - size + 1)
	return pool[off : off+size]
}

func (b *batchBench) engram(system string, pool []engram.Memory, dim, size int, kind engram.IndexKind) error {
	s, err := engram.Open(b.path("engram"))
	if err != nil {
		return err
	}
	defer s.Close()
	sp, err := s.Space(context.Background(), "bench", engram.WithDimension(dim), engram.WithIndex(kind))
	if err != nil {
		return err
	}
	rate, p50, p99, calls, err := b.measure(size, func(call int) error {
		res, err := sp.BatchRemember(context.Background(), slice(pool, call, size))
		if err == nil && res.Failed > 0 {
			err = res.Err()
		}
		return err
	})
	if err != nil {
		return err
	}
	b.emit(batchResult{System: system, Op: "remember", BatchSize: size, Goroutines: 1, Durable: true, Dim: dim,
		OpsPerS: rate, P50ms: msOf(p50), P99ms: msOf(p99), Calls: calls, Note: "index " + kind.String()})
	return nil
}

// indexOnly inserts the same vectors into an HNSW graph alone, in batches of 1000: the
// ceiling for durable BatchRemember into a graph space.
func (b *batchBench) indexOnly(pool []engram.Memory, dim int) {
	g := index.NewHNSW(dim, index.HNSWConfig{M: engram.DefaultHNSWM, EfConstruction: engram.DefaultHNSWEfConstruction})
	const size = 1000
	next := uint64(0)
	rate, p50, p99, calls, _ := b.measure(size, func(call int) error {
		batch := slice(pool, call, size)
		keys := make([]uint64, size)
		vecs := make([]float32, 0, size*dim)
		for i, m := range batch {
			keys[i] = next
			next++
			vecs = append(vecs, m.Embedding...)
		}
		return g.Add(keys, vecs)
	})
	b.emit(batchResult{System: "engram-index-only", Op: "remember", BatchSize: size, Goroutines: 1, Dim: dim,
		OpsPerS: rate, P50ms: msOf(p50), P99ms: msOf(p99), Calls: calls, Note: "HNSW Add, no storage"})
}

// rawBolt writes the same record bytes engram would, one transaction per batch.
func (b *batchBench) rawBolt(pool []engram.Memory, dim, size int) error {
	db, err := bolt.Open(b.path("bolt"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	defer db.Close()
	vals := recordBytes(pool) // the exact values engram writes for these memories
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("r")); return err })
	seq := uint64(0)
	rate, p50, p99, calls, err := b.measure(size, func(call int) error {
		return db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("r"))
			bk.FillPercent = 1
			for i := 0; i < size; i++ {
				seq++
				if err := bk.Put(strconv.AppendUint(make([]byte, 0, 20), seq, 10), vals[(call*size+i)%len(vals)]); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	name := "bbolt-raw"
	b.emit(batchResult{System: name, Op: "remember", BatchSize: size, Goroutines: 1, Durable: true, Dim: dim,
		OpsPerS: rate, P50ms: msOf(p50), P99ms: msOf(p99), Calls: calls, Note: fmt.Sprintf("%d put(s) per fsync'd transaction, same record bytes", size)})
	return nil
}

// recordBytes returns the values engram stores for pool, read back from a real store.
func recordBytes(pool []engram.Memory) [][]byte {
	dir, _ := os.MkdirTemp("", "engram-rec")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "r.db")
	s, err := engram.Open(path, engram.WithNoSync())
	if err != nil {
		panic(err)
	}
	sp, _ := s.Space(context.Background(), "r", engram.WithIndex(engram.IndexFlat))
	sp.BatchRemember(context.Background(), pool[:min(1000, len(pool))])
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	var vals [][]byte
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("r/records")).ForEach(func(_, v []byte) error {
			vals = append(vals, slices.Clone(v))
			return nil
		})
	})
	return vals
}

func (b *batchBench) chromem(pool []engram.Memory, dim int) error {
	db, err := chromem.NewPersistentDB(b.path("chromem"), false)
	if err != nil {
		return err
	}
	col, err := db.CreateCollection("bench", nil, nil)
	if err != nil {
		return err
	}
	const size = 1000
	next := 0
	conc := max(8, runtime.GOMAXPROCS(0))
	rate, p50, p99, calls, err := b.measure(size, func(call int) error {
		docs := make([]chromem.Document, size)
		for i, m := range slice(pool, call, size) {
			docs[i] = chromem.Document{ID: strconv.Itoa(next), Content: m.Content, Embedding: m.Embedding, Metadata: m.Metadata}
			next++
		}
		return col.AddDocuments(context.Background(), docs, conc)
	})
	if err != nil {
		return err
	}
	b.emit(batchResult{System: "chromem-go", Op: "remember", BatchSize: size, Goroutines: conc, Durable: false, Dim: dim,
		OpsPerS: rate, P50ms: msOf(p50), P99ms: msOf(p99), Calls: calls,
		Note: fmt.Sprintf("persistent DB, AddDocuments concurrency %d, precomputed embeddings; one gob file per document, no fsync, no index", conc)})
	return nil
}

// unary measures Remember (a batch of one) from g goroutines: group commit at work.
func (b *batchBench) unary(pool []engram.Memory, dim, g int) error {
	s, err := engram.Open(b.path("unary"))
	if err != nil {
		return err
	}
	defer s.Close()
	sp, err := s.Space(context.Background(), "bench", engram.WithDimension(dim), engram.WithIndex(engram.IndexFlat))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var lat []time.Duration
	var total int
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := w; time.Since(start) < b.budget; i += g {
				t := time.Now()
				if _, err := sp.Remember(context.Background(), pool[i%len(pool)]); err != nil {
					panic(err)
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			total += len(mine)
			mu.Unlock()
		}()
	}
	wg.Wait()
	rate := float64(total) / time.Since(start).Seconds()
	b.emit(batchResult{System: "engram-remember", Op: "remember", BatchSize: 1, Goroutines: g, Durable: true, Dim: dim,
		OpsPerS: rate, P50ms: msOf(quantileD(lat, 0.5)), P99ms: msOf(quantileD(lat, 0.99)), Calls: total,
		Note: "unary Remember; concurrent calls share commits (group commit)"})
	return nil
}

// queries compares recall on an HNSW space (through Space.Recall: index, record reads,
// scoring) with chromem-go's exhaustive QueryEmbedding, on n real vectors.
func (b *batchBench) queries(cache string, n, nq int) error {
	base, query, dim, err := loadSplit(cache, n, nq, 1)
	if err != nil {
		return err
	}
	gt, _, err := loadOrComputeGT(cache, base, query, dim, gtK, 1)
	if err != nil {
		return err
	}
	su := &suite{base: base, queries: query, dim: dim, gt: gt}
	ctx := context.Background()

	s, err := engram.Open(b.path("query"), engram.WithNoSync())
	if err != nil {
		return err
	}
	defer s.Close()
	sp, err := s.Space(ctx, "glove", engram.WithIndex(engram.IndexHNSW))
	if err != nil {
		return err
	}
	for off := 0; off < n; off += 1000 {
		mems := make([]engram.Memory, 0, 1000)
		for i := off; i < min(off+1000, n); i++ {
			mems = append(mems, engram.Memory{ID: strconv.Itoa(i), Embedding: base[i*dim : (i+1)*dim]})
		}
		if _, err := sp.BatchRemember(ctx, mems); err != nil {
			return err
		}
	}
	ids := make([]uint32, nq*recallK)
	var lat []time.Duration
	start := time.Now()
	for qi := 0; qi < nq; qi++ {
		t := time.Now()
		hits, err := sp.Recall(ctx, engram.Query{Embedding: query[qi*dim : (qi+1)*dim], K: recallK, MinSimilarity: -1, SimilarityOnly: true})
		if err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
		for j := range recallK {
			ids[qi*recallK+j] = ^uint32(0)
			if j < len(hits) {
				id, _ := strconv.Atoi(hits[j].Memory.ID)
				ids[qi*recallK+j] = uint32(id)
			}
		}
	}
	b.emit(batchResult{System: "engram-hnsw", Op: "query", Goroutines: 1, Dim: dim, N: n, Calls: nq,
		OpsPerS: float64(nq) / time.Since(start).Seconds(), P50ms: msOf(quantileD(lat, 0.5)), P99ms: msOf(quantileD(lat, 0.99)),
		Recall10: su.recallAt10(ids, recallK), Note: fmt.Sprintf("Space.Recall, K=10, default ef %d, one goroutine", engram.DefaultHNSWEfSearch)})

	db := chromem.NewDB()
	col, err := db.CreateCollection("glove", nil, nil)
	if err != nil {
		return err
	}
	docs := make([]chromem.Document, n)
	for i := range docs {
		docs[i] = chromem.Document{ID: strconv.Itoa(i), Embedding: base[i*dim : (i+1)*dim]}
	}
	if err := col.AddDocuments(ctx, docs, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	cq := min(nq, 100) // chromem scans everything: fewer queries suffice
	lat = lat[:0]
	start = time.Now()
	for qi := 0; qi < cq; qi++ {
		t := time.Now()
		res, err := col.QueryEmbedding(ctx, query[qi*dim:(qi+1)*dim], recallK, nil, nil)
		if err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
		for j := range recallK {
			ids[qi*recallK+j] = ^uint32(0)
			if j < len(res) {
				id, _ := strconv.Atoi(res[j].ID)
				ids[qi*recallK+j] = uint32(id)
			}
		}
	}
	suC := &suite{base: base, queries: query[:cq*dim], dim: dim, gt: gt}
	b.emit(batchResult{System: "chromem-go", Op: "query", Goroutines: runtime.GOMAXPROCS(0), Dim: dim, N: n, Calls: cq,
		OpsPerS: float64(cq) / time.Since(start).Seconds(), P50ms: msOf(quantileD(lat, 0.5)), P99ms: msOf(quantileD(lat, 0.99)),
		Recall10: suC.recallAt10(ids[:cq*recallK], recallK), Note: "QueryEmbedding: exhaustive scan over all cores"})
	return nil
}

func printBatchTable(results []batchResult) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\top\tdim\tbatch\tgoroutines\tdurable\tper s\tp50 ms\tp99 ms\trecall@10\tnote\t")
	for _, r := range results {
		rec := "-"
		if r.Recall10 > 0 {
			rec = fmt.Sprintf("%.4f", r.Recall10)
		}
		batch := strconv.Itoa(r.BatchSize)
		if r.Op == "query" {
			batch = fmt.Sprintf("n=%d", r.N)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%v\t%.0f\t%.2f\t%.2f\t%s\t%s\t\n", r.System, r.Op, r.Dim, batch, r.Goroutines, r.Durable,
			r.OpsPerS, r.P50ms, r.P99ms, rec, r.Note)
	}
	tw.Flush()
}
