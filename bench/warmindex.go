package main

// `warmindex`: the candidates for the warm tier's index, measured alone on the same data —
// the choice behind index.Graph8. Each candidate is built the way migration feeds the warm
// tier (Add in batches of 1000, as demotions arrive), then loses the oldest --archive-frac
// of its rows in batches (warm memories going cold), and is then queried: recall@10 after
// an exact re-rank of its candidates (here from the vectors in memory; the store reads
// them from the records) against brute force over the remaining rows, and queries per
// second on one goroutine.
//
//	go run . warmindex [--data synthetic|glove] [--n 210000] [--dim 384]
//
// Candidates:
//   - graph8: the warm tier's index, index.Graph8 (an HNSW graph over 8-bit codes), at
//     --graph-m / --graph-efc and several ef;
//   - graph: the same graph on float32 vectors (index.HNSW at --graph-m / --graph-efc);
//   - hot: the hot tier's own graph (M=16, efConstruction 200), build and delete only — the
//     unit the warm tier's maintenance is compared against (a demotion follows a hot
//     insert and delete).
//
// Two more candidates were measured with this command and dropped: the full scan of 8-bit
// codes that was the warm tier before (index.SQ8) and an inverted file over the same codes
// with lists grown by splitting (index.IVF); both remain at commit 36b44e7 (--candidates
// sq8,ivf,graph8 --probes ... there); warm.go's comment quotes the runs.

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/viterin/vek/vek32"
)

type warmRow struct {
	Candidate string  `json:"candidate"`
	Setting   string  `json:"setting"`
	Recall    float64 `json:"recall"`
	QPS       float64 `json:"qps"`
	AddPerS   float64 `json:"add_per_s"`
	DelPerS   float64 `json:"delete_per_s"`
	Bytes     float64 `json:"bytes_per_row"`
}

func cmdWarmIndex(args []string) error {
	fs := flag.NewFlagSet("warmindex", flag.ExitOnError)
	n := fs.Int("n", 210_000, "rows")
	dim := fs.Int("dim", 384, "dimension (synthetic)")
	data := fs.String("data", "synthetic", "synthetic or glove (the first --n GloVe vectors of the split)")
	cache := fs.String("cache", defaultCacheDir(), "data set cache, for --data glove")
	nq := fs.Int("queries", 200, "queries")
	archive := fs.Float64("archive-frac", 0.2, "fraction of the rows (the oldest) deleted before querying")
	efs := fs.String("efs", "64,96,128,192", "graph ef")
	rerank := fs.String("rerank", "10,20,40", "candidates re-ranked at full precision")
	cands := fs.String("candidates", "graph8,hot", "candidates to run: graph8, graph, hot")
	gm := fs.Int("graph-m", 12, "graph M")
	gefc := fs.Int("graph-efc", 64, "graph efConstruction")
	fs.Parse(args)
	el, err := parseInts(*efs)
	if err != nil {
		return err
	}
	rl, err := parseInts(*rerank)
	if err != nil {
		return err
	}
	var base, qs []float32
	d := *dim
	switch *data {
	case "synthetic":
		g := newLatentGen(7, d, 1.0)
		base = make([]float32, *n*d)
		for i := 0; i < *n; i++ {
			g.draw(i, base[i*d:(i+1)*d])
		}
		qs = make([]float32, 0, *nq*d)
		for i := 0; i < *nq; i++ {
			qs = append(qs, g.query(i)...)
		}
	case "glove":
		words, _, _, err := loadGlove(*cache)
		if err != nil {
			return err
		}
		if base, qs, d, err = loadSplit(*cache, min(*n, len(words)-*nq), *nq, 7); err != nil {
			return err
		}
		*n = len(base) / d
	default:
		return fmt.Errorf("--data %q", *data)
	}
	keys := make([]uint64, *n)
	for i := range keys {
		keys[i] = uint64(i)
	}
	gone := int(*archive * float64(*n))
	// Ground truth over the rows that remain.
	gt := exactTopK(base[gone*d:], qs, d, recallK)
	logf("%d rows of %d dims (%s), %d deleted before querying; ground truth done", *n, d, *data, gone)

	var rows []warmRow
	build := func(name string, ix index.Index, compact func()) (add, del, bytes float64) {
		runtime.GC()
		t := time.Now()
		for off := 0; off < *n; off += 1000 {
			end := min(off+1000, *n)
			if err := ix.Add(keys[off:end], base[off*d:end*d]); err != nil {
				panic(err)
			}
		}
		add = float64(*n) / time.Since(t).Seconds()
		t = time.Now()
		for off := 0; off < gone; off += 1000 {
			ix.Delete(keys[off:min(off+1000, gone)]...)
		}
		if compact != nil {
			compact()
		}
		del = float64(gone) / time.Since(t).Seconds()
		bytes = float64(ix.MemoryBytes()) / float64(ix.Len())
		logf("%s: add %.0f/s, delete %.0f/s, %.0f bytes/row", name, add, del, bytes)
		return
	}
	query := func(name, setting string, search func(q []float32, k int) []index.Result, r int) warmRow {
		got := make([][]uint32, *nq)
		t := time.Now()
		for i := 0; i < *nq; i++ {
			q := qs[i*d : (i+1)*d]
			res := search(q, r)
			// Exact re-rank of the candidates, as the store does from the records.
			t := newTopK(recallK)
			for _, c := range res {
				t.push(uint32(c.Key), vek32.Dot(q, base[int(c.Key)*d:(int(c.Key)+1)*d]))
			}
			ids := make([]uint32, len(t.ids))
			t.sorted(ids, make([]float32, len(t.ids)))
			got[i] = ids
		}
		qps := float64(*nq) / time.Since(t).Seconds()
		hit := 0
		for i := 0; i < *nq; i++ {
			want, _ := gt.row(i)
			for _, id := range got[i] {
				for _, w := range want {
					if uint32(gone)+w == id {
						hit++
						break
					}
				}
			}
		}
		return warmRow{Candidate: name, Setting: setting, Recall: float64(hit) / float64(*nq*recallK), QPS: qps}
	}
	want := map[string]bool{}
	for _, c := range strings.Split(*cands, ",") {
		want[c] = true
	}
	if want["graph"] {
		g := index.NewHNSW(d, index.HNSWConfig{M: *gm, EfConstruction: *gefc})
		add, del, _ := build("graph", g, g.Compact)
		// An int8 graph holds codes (d + 4 bytes) instead of float32 vectors.
		b := float64(g.MemoryBytes())/float64(g.Len()) - float64(4*d) + float64(d+4)
		for _, ef := range el {
			for _, r := range rl {
				if r > ef {
					continue
				}
				row := query(fmt.Sprintf("graph M=%d efc=%d", *gm, *gefc), fmt.Sprintf("ef %d, rerank %d", ef, r), func(q []float32, k int) []index.Result {
					res, _ := g.Search(q, k, index.SearchOptions{Breadth: ef, MinSimilarity: -1})
					return res
				}, r)
				row.AddPerS, row.DelPerS, row.Bytes = add, del, b
				rows = append(rows, row)
			}
		}
	}
	if want["graph8"] {
		g := index.NewGraph8(d, index.Graph8Config{M: *gm, EfConstruction: *gefc})
		add, del, b := build("graph8", g, g.Compact)
		if err := g.Verify(); err != nil {
			return fmt.Errorf("graph8: %w", err)
		}
		for _, ef := range el {
			for _, r := range rl {
				if r > ef {
					continue
				}
				row := query(fmt.Sprintf("graph8 M=%d efc=%d", *gm, *gefc), fmt.Sprintf("ef %d, rerank %d", ef, r), func(q []float32, k int) []index.Result {
					res, _ := g.Search(q, k, index.SearchOptions{Breadth: ef, MinSimilarity: -1})
					return res
				}, r)
				row.AddPerS, row.DelPerS, row.Bytes = add, del, b
				rows = append(rows, row)
			}
		}
	}
	if want["hot"] {
		g := index.NewHNSW(d, index.HNSWConfig{})
		add, del, b := build("hot graph", g, g.Compact)
		rows = append(rows, warmRow{Candidate: "hot graph M=16", Setting: "build/delete only", AddPerS: add, DelPerS: del, Bytes: b})
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "candidate\tsetting\trecall@10\tQPS\tadd/s\tdelete/s\tbytes/row\t")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%.4f\t%.0f\t%.0f\t%.0f\t%.0f\t\n", r.Candidate, r.Setting, r.Recall, r.QPS, r.AddPerS, r.DelPerS, r.Bytes)
	}
	return w.Flush()
}
