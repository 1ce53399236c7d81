package main

// engram-store: what an application gets through the public API, measured beside the
// bare graph. A durable store (engram.Open with default options, in a temp dir) holds one
// space on the HNSW index with the graph parameters of every other system; the base set
// goes in with RememberAll (batches of 1000, two in flight, each batch fsync'd), timed as
// the build; queries are Space.Recall calls (K 10, similarity order, MinSimilarity -1,
// Breadth = ef) whose hits come back hydrated the way a caller receives them (ID, content,
// embedding, timestamps, metadata). Each memory's content is its word; IDs are generated
// by the store, and the harness maps a hit's ID back to its row.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/engram-go/engram"
)

const (
	storeBatch    = 1000
	storeInFlight = 2
)

type engramStore struct {
	dir   string
	st    *engram.Store
	sp    *engram.Space
	rowOf map[string]uint32 // generated ID → base row

	errMu sync.Mutex
	err   error // the first failed Recall, reported by Err after the measurement
}

// Err reports the first Recall that failed since the last call (the harness checks it
// after every measurement; a search function has no error path per query).
func (e *engramStore) Err() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	err := e.err
	e.err = nil
	return err
}

func (e *engramStore) Name() string           { return "engram-store" }
func (e *engramStore) Params() string         { return "M=16 efc=200 durable RememberAll(1000, 2)" }
func (e *engramStore) Exact() bool            { return false }
func (e *engramStore) ConcurrentSearch() bool { return true }

// Close closes the store and deletes its directory.
func (e *engramStore) Close() {
	if e.st != nil {
		e.st.Close()
		e.st, e.sp, e.rowOf = nil, nil, nil
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
		e.dir = ""
	}
}

func (e *engramStore) Build(s *suite) (buildInfo, error) {
	e.Close() // a rebuild starts from a new, empty store
	ctx := context.Background()
	n, dim := s.n(), s.dim
	before := heapAfterGC()
	// The memories are made before the clock starts: a caller has them already. Each gets
	// its own copy of the vector, as fresh embeddings from a model would be.
	mems := make([]engram.Memory, n)
	for i := range mems {
		mems[i] = engram.Memory{Content: s.words[i], Embedding: slices.Clone(s.base[i*dim : (i+1)*dim])}
	}
	dir, err := os.MkdirTemp("", "engram-bench-store-")
	if err != nil {
		return buildInfo{}, err
	}
	e.dir = dir
	st, err := engram.Open(filepath.Join(dir, "store.db"))
	if err != nil {
		return buildInfo{}, err
	}
	e.st = st
	sp, err := st.Space(ctx, "ann", engram.WithDimension(dim), engram.WithIndex(engram.IndexHNSW),
		engram.WithHNSW(16, 200, engram.DefaultHNSWEfSearch))
	if err != nil {
		return buildInfo{}, err
	}
	e.sp = sp
	start := time.Now()
	res, err := sp.RememberAll(ctx, mems, storeBatch, storeInFlight)
	secs := time.Since(start).Seconds()
	if err != nil {
		return buildInfo{}, err
	}
	if res.Failed > 0 {
		return buildInfo{}, fmt.Errorf("RememberAll: %d of %d failed, first: %v", res.Failed, n, res.Err())
	}
	e.rowOf = make(map[string]uint32, n)
	for i, it := range res.Items {
		e.rowOf[it.ID] = uint32(i)
	}
	after := heapAfterGC() // mems and res are dead here: the caller's memories are not counted
	var file int64
	if fi, err := os.Stat(filepath.Join(dir, "store.db")); err == nil {
		file = fi.Size()
	}
	return buildInfo{
		Seconds: secs,
		Threads: runtime.GOMAXPROCS(0),
		// The map from IDs to rows is the harness's, not the store's, but it is small
		// beside the store and left in, so the figure errs against engram.
		BytesPerVector: float64(after-before) / float64(n),
		BytesMethod:    "Go heap growth over Open+RememberAll after GC (graph, store caches, bench's ID→row map)",
		Note: fmt.Sprintf("store file %.0f B/vec; ingest = durable RememberAll(%d, %d in flight), index workers = GOMAXPROCS",
			float64(file)/float64(n), storeBatch, storeInFlight),
	}, nil
}

func (e *engramStore) Searcher(ef int) func(q []float32, k int, out []uint32) []uint32 {
	ctx := context.Background()
	return func(q []float32, k int, out []uint32) []uint32 {
		hits, err := e.sp.Recall(ctx, engram.Query{Embedding: q, K: k, MinSimilarity: -1, SimilarityOnly: true, Breadth: ef})
		if err != nil {
			e.errMu.Lock()
			if e.err == nil {
				e.err = fmt.Errorf("engram-store Recall: %w", err)
			}
			e.errMu.Unlock()
			return out
		}
		for _, h := range hits {
			row, ok := e.rowOf[h.Memory.ID]
			if !ok {
				row = ^uint32(0)
			}
			out = append(out, row)
		}
		return out
	}
}
