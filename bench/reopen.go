package main

// `reopen`: how long Open takes to restore a space on the graph index from its snapshot,
// against rebuilding the graph from the records — on every vector of the data set.
//
// It imports all 341,479 vectors into one space (BatchRemember of 1000, WithNoSync plus a
// final Sync: the import is not what is measured), closes the store (which saves the graph
// snapshot), then times Open on that file and on a copy whose snapshot bucket was removed,
// so the same records are rebuilt into a graph.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/engram-go/engram"
	bolt "go.etcd.io/bbolt"
)

type reopenResult struct {
	System          string  `json:"system"`
	N               int     `json:"n"`
	Dim             int     `json:"dim"`
	Threads         int     `json:"threads"`
	ImportPerS      float64 `json:"import_per_s"`
	SnapshotBytes   int64   `json:"snapshot_bytes"`
	FileBytes       int64   `json:"file_bytes"`
	OpenSnapshotS   float64 `json:"open_from_snapshot_s"`
	OpenRebuildS    float64 `json:"open_rebuild_s"`
	SnapshotRatio   float64 `json:"snapshot_over_rebuild"`
	RecallSnapshot  float64 `json:"recall_at_10_snapshot"`
	RecallRebuilt   float64 `json:"recall_at_10_rebuilt"`
	LoadedFrom      string  `json:"loaded_from"`
	RebuiltFrom     string  `json:"rebuilt_from"`
	SnapshotSavedIn float64 `json:"snapshot_save_s"`
}

func cmdReopen(args []string) error {
	fs := flag.NewFlagSet("reopen", flag.ExitOnError)
	n := fs.Int("n", 0, "vectors to import (0 = all but --queries)")
	queries := fs.Int("queries", 200, "held-out queries for a recall check after each open")
	asJSON := fs.Bool("json", false, "one JSON object instead of a table")
	cache := fs.String("cache", defaultCacheDir(), "cache directory (env ENGRAM_BENCH_CACHE)")
	dir := fs.String("dir", "", "work directory (default: a temp dir, removed afterwards)")
	fs.Parse(args)

	words, _, _, err := loadGlove(*cache)
	if err != nil {
		return err
	}
	if *n <= 0 {
		*n = len(words) - *queries
	}
	base, query, dim, err := loadSplit(*cache, *n, *queries, 1)
	if err != nil {
		return err
	}
	gt, _, err := loadOrComputeGT(*cache, base, query, dim, gtK, 1)
	if err != nil {
		return err
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "engram-reopen"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	path := filepath.Join(work, "store.db")
	os.Remove(path)
	res := reopenResult{System: "engram", N: *n, Dim: dim, Threads: threadsAvailable()}
	ctx := context.Background()

	s, err := engram.Open(path, engram.WithNoSync())
	if err != nil {
		return err
	}
	sp, err := s.Space(ctx, "glove")
	if err != nil {
		return err
	}
	start := time.Now()
	for off := 0; off < *n; off += 1000 {
		end := min(off+1000, *n)
		mems := make([]engram.Memory, 0, end-off)
		for i := off; i < end; i++ {
			mems = append(mems, engram.Memory{ID: strconv.Itoa(i), Embedding: base[i*dim : (i+1)*dim]})
		}
		if r, err := sp.BatchRemember(ctx, mems); err != nil || r.Failed > 0 {
			return fmt.Errorf("import: %v %v", err, r.Err())
		}
		if off%50000 == 0 {
			logf("imported %d", off)
		}
	}
	if err := s.Sync(); err != nil {
		return err
	}
	res.ImportPerS = float64(*n) / time.Since(start).Seconds()
	logf("imported %d vectors at %.0f/s; index %s", *n, res.ImportPerS, sp.Stats().Index)
	t := time.Now()
	if err := sp.Snapshot(ctx); err != nil {
		return err
	}
	res.SnapshotSavedIn = time.Since(t).Seconds()
	if err := s.Close(); err != nil {
		return err
	}

	// A copy without the snapshot, for the rebuild.
	rebuild := filepath.Join(work, "rebuild.db")
	if err := copyFile(path, rebuild); err != nil {
		return err
	}
	db, err := bolt.Open(rebuild, 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		// The store's layout (see layout.go in the library): the space's snapshot is the
		// top-level bucket "<space>/snapshot".
		name := []byte("glove/snapshot")
		if st := tx.Bucket(name); st != nil {
			res.SnapshotBytes = int64(st.Stats().LeafInuse + st.Stats().BranchInuse)
		}
		return tx.DeleteBucket(name)
	})
	db.Close()
	if err != nil {
		return fmt.Errorf("removing the snapshot from the copy: %w", err)
	}
	if fi, err := os.Stat(path); err == nil {
		res.FileBytes = fi.Size()
	}

	open := func(p string) (float64, float64, string, error) {
		t := time.Now()
		s, err := engram.Open(p, engram.WithReadOnly())
		if err != nil {
			return 0, 0, "", err
		}
		secs := time.Since(t).Seconds()
		defer s.Close()
		sp, err := s.LookupSpace("glove")
		if err != nil {
			return 0, 0, "", err
		}
		ids := make([]uint32, len(query)/dim*recallK)
		for qi := 0; qi < len(query)/dim; qi++ {
			hits, err := sp.Recall(ctx, engram.Query{Embedding: query[qi*dim : (qi+1)*dim], K: recallK, MinSimilarity: -1, SimilarityOnly: true})
			if err != nil {
				return 0, 0, "", err
			}
			for j := range recallK {
				ids[qi*recallK+j] = ^uint32(0)
				if j < len(hits) {
					id, _ := strconv.Atoi(hits[j].Memory.ID)
					ids[qi*recallK+j] = uint32(id)
				}
			}
		}
		su := &suite{base: base, queries: query, dim: dim, gt: gt}
		return secs, su.recallAt10(ids, recallK), sp.Stats().IndexLoadedFrom, nil
	}
	if res.OpenSnapshotS, res.RecallSnapshot, res.LoadedFrom, err = open(path); err != nil {
		return err
	}
	logf("open from snapshot: %.2fs (%s)", res.OpenSnapshotS, res.LoadedFrom)
	if res.OpenRebuildS, res.RecallRebuilt, res.RebuiltFrom, err = open(rebuild); err != nil {
		return err
	}
	logf("open with rebuild: %.2fs (%s)", res.OpenRebuildS, res.RebuiltFrom)
	res.SnapshotRatio = res.OpenSnapshotS / res.OpenRebuildS
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("n=%d dim=%d threads=%d, store file %.0f MB (graph snapshot %.0f MB)\n", res.N, res.Dim, res.Threads,
		float64(res.FileBytes)/1e6, float64(res.SnapshotBytes)/1e6)
	fmt.Printf("import (BatchRemember 1000, no-sync)  %8.0f vectors/s\n", res.ImportPerS)
	fmt.Printf("snapshot save                          %8.2f s\n", res.SnapshotSavedIn)
	fmt.Printf("open from snapshot                     %8.2f s   recall@10 %.4f (%s)\n", res.OpenSnapshotS, res.RecallSnapshot, res.LoadedFrom)
	fmt.Printf("open, rebuilding the graph             %8.2f s   recall@10 %.4f (%s)\n", res.OpenRebuildS, res.RecallRebuilt, res.RebuiltFrom)
	fmt.Printf("snapshot / rebuild                     %8.3f\n", res.SnapshotRatio)
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func threadsAvailable() int { return runtime.GOMAXPROCS(0) }
