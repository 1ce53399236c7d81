package main

// `hotchurn`: what the hot tier's turnover costs its graph, measured on the index alone.
// n synthetic vectors stream in batches of 1000 into (a) one graph that keeps them all —
// an untiered space — and (b) a graph that, like the hot tier, holds at most --hot of them:
// when it passes --hot it loses its oldest rows down to 90% (a migration cycle's
// demotions), and repairs around them once tombstones reach --compact of its slots. It
// reports the time of each (b's repairs apart), and the recall@10 (ef 64) of b against a
// graph built fresh from b's surviving rows — the hot tier's recall after heavy demotion.
//
//	go run . hotchurn [--n 300000] [--hot 30000] [--compact 0.05,0.2,0.3]

import (
	"flag"
	"fmt"
	"syscall"
	"time"

	"github.com/engram-go/engram/index"
)

func cmdHotChurn(args []string) error {
	fs := flag.NewFlagSet("hotchurn", flag.ExitOnError)
	n := fs.Int("n", 300_000, "vectors")
	dim := fs.Int("dim", 384, "dimension")
	hot := fs.Int("hot", 30_000, "hot capacity")
	compacts := fs.String("compact", "0.05,0.2,0.3", "tombstone shares that trigger repair (HNSWConfig.CompactRatio)")
	untiered := fs.Bool("untiered", true, "also build the untiered graph")
	nq := fs.Int("queries", 200, "queries")
	fs.Parse(args)
	var ratios []float64
	for _, s := range splitList(*compacts) {
		var r float64
		if _, err := fmt.Sscan(s, &r); err != nil {
			return err
		}
		ratios = append(ratios, r)
	}
	d := *dim
	g := newLatentGen(7, d, 1.0)
	vec := func(i int) []float32 { return g.vector(i) }
	qs := make([]float32, 0, *nq*d)
	for i := 0; i < *nq; i++ {
		qs = append(qs, g.query(i)...)
	}
	batch := func(off int) ([]uint64, []float32) {
		end := min(off+1000, *n)
		keys := make([]uint64, 0, end-off)
		vecs := make([]float32, 0, (end-off)*d)
		for i := off; i < end; i++ {
			keys = append(keys, uint64(i))
			vecs = append(vecs, vec(i)...)
		}
		return keys, vecs
	}
	if *untiered {
		a := index.NewHNSW(d, index.HNSWConfig{})
		t, c := time.Now(), cpuTime()
		for off := 0; off < *n; off += 1000 {
			keys, vecs := batch(off)
			a.Add(keys, vecs)
		}
		logf("untiered: %d inserts in %.1fs, %.1f CPU-s (%.0f/s)", *n, time.Since(t).Seconds(), (cpuTime() - c).Seconds(), float64(*n)/time.Since(t).Seconds())
	}
	for _, r := range ratios {
		b := index.NewHNSW(d, index.HNSWConfig{CompactRatio: 1}) // compaction is called here, timed apart
		var insert, compact, insertCPU, compactCPU time.Duration
		oldest, live, compactions := 0, 0, 0
		for off := 0; off < *n; off += 1000 {
			keys, vecs := batch(off)
			t, c := time.Now(), cpuTime()
			b.Add(keys, vecs)
			insert, insertCPU = insert+time.Since(t), insertCPU+cpuTime()-c
			live += len(keys)
			if live > *hot {
				drop := live - *hot*9/10
				ks := make([]uint64, drop)
				for i := range ks {
					ks[i] = uint64(oldest + i)
				}
				b.Delete(ks...)
				oldest += drop
				live -= drop
			}
			if st := b.Stats(); float64(st.Tombstones) >= r*float64(st.Nodes) && st.Tombstones > 0 {
				t, c := time.Now(), cpuTime()
				b.Compact()
				compact, compactCPU = compact+time.Since(t), compactCPU+cpuTime()-c
				compactions++
			}
		}
		st := b.Stats()
		logf("tiered, compact at %.2f: inserts %.1fs (%.1f CPU-s), repairs %.1fs (%.1f CPU-s, %d compactions); total %.0f/s; %+v",
			r, insert.Seconds(), insertCPU.Seconds(), compact.Seconds(), compactCPU.Seconds(), compactions, float64(*n)/(insert+compact).Seconds(), st)
		// Recall against a graph built fresh from the survivors, and brute force.
		c := index.NewHNSW(d, index.HNSWConfig{})
		surv := make([]float32, 0, live*d)
		for off := oldest; off < *n; off += 1000 {
			end := min(off+1000, *n)
			keys := make([]uint64, 0, end-off)
			vecs := make([]float32, 0, (end-off)*d)
			for i := off; i < end; i++ {
				keys = append(keys, uint64(i))
				vecs = append(vecs, vec(i)...)
			}
			surv = append(surv, vecs...)
			c.Add(keys, vecs)
		}
		gt := exactTopK(surv, qs, d, recallK)
		rec := func(x *index.HNSW) float64 {
			hit := 0
			for q := 0; q < *nq; q++ {
				res, _ := x.Search(qs[q*d:(q+1)*d], recallK, index.SearchOptions{MinSimilarity: -1})
				want, _ := gt.row(q)
				for _, h := range res {
					for _, w := range want {
						if uint64(oldest)+uint64(w) == h.Key {
							hit++
						}
					}
				}
			}
			return float64(hit) / float64(*nq*recallK)
		}
		rb, rc := rec(b), rec(c)
		logf("recall@10: churned %.4f, fresh %.4f (Δ %+.4f)", rb, rc, rb-rc)
	}
	return nil
}

// cpuTime is the process's user + system CPU time so far: on a shared machine, the work a
// phase did, whatever else ran meanwhile.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
