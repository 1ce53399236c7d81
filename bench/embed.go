package main

// `embed`: text in, memories out. For each embedder (the offline hash and GloVe-SIF
// ones), in one run: texts embedded per second by the embedder alone (chunks of 256, in
// parallel on every core, as the store runs them), durable RememberAll per second of the
// same memories pre-embedded (the storing alone), and durable RememberAll per second of
// the text-only memories into a space with the embedder attached (both stages, which the
// store overlaps). The target: pipelined ≥ 0.9 × the slower of the two stages.
//
// The three measurements alternate, round after round (--rounds, default 3), each store
// into a fresh file, and each rate reported is the median of its rounds, the ratio the
// median of the per-round ratios: on a shared machine a busy minute then lands on one
// round of every measurement instead of on one whole measurement.
//
//	go run . embed [--n 20000] [--rounds 3] [--systems hash,glove] [--json]

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed/glove"
	"github.com/engram-go/engram/embed/hash"
	"golang.org/x/sync/errgroup"
)

type embedResult struct {
	System        string  `json:"system"`
	TextsPerS     float64 `json:"texts_per_s"`
	StorePerS     float64 `json:"store_per_s"`
	PipelinedPerS float64 `json:"pipelined_per_s"`
	Ratio         float64 `json:"ratio"` // median over rounds of pipelined / min(texts, store)
	Rounds        int     `json:"rounds"`
	N             int     `json:"n"`
	Dim           int     `json:"dim"`
}

func cmdEmbed(args []string) error {
	fs := flag.NewFlagSet("embed", flag.ExitOnError)
	n := fs.Int("n", 20000, "text memories per measurement")
	rounds := fs.Int("rounds", 3, "alternating rounds of the three measurements (medians reported)")
	systems := fs.String("systems", "hash,glove", "embedders to measure: hash, glove")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	cache := fs.String("cache", defaultCacheDir(), "data set cache (GloVe vectors)")
	fs.Parse(args)

	ctx := context.Background()
	vecs, err := glove.LoadWinkVectors(ctx, *cache)
	if err != nil {
		return err
	}
	g, err := glove.New(vecs)
	if err != nil {
		return err
	}
	texts := sentences(vecs.Words, *n, 1)
	logf("%d sentences, %.1f words each", len(texts), meanWords(texts))
	work, err := os.MkdirTemp("", "engram-embed")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var rows []embedResult
	for _, sys := range strings.Split(*systems, ",") {
		var e engram.Embedder
		switch sys {
		case "hash":
			h, err := hash.New()
			if err != nil {
				return err
			}
			e = h
		case "glove":
			e = g
		default:
			return fmt.Errorf("unknown embedder %q", sys)
		}
		row, err := measureEmbedder(ctx, sys, e, texts, filepath.Join(work, sys), max(1, *rounds))
		if err != nil {
			return err
		}
		rows = append(rows, row)
		if *asJSON {
			b, _ := json.Marshal(row)
			fmt.Println(string(b))
		}
	}
	if !*asJSON {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\tdim\tn\ttexts/s (embed alone)\tstore/s (pre-embedded)\tpipelined/s (text in)\tratio to the slower\t")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t\n", r.System, r.Dim, r.N, r.TextsPerS, r.StorePerS, r.PipelinedPerS, r.Ratio)
		}
		tw.Flush()
	}
	return nil
}

// measureEmbedder runs the three measurements of one embedder, alternating, rounds times.
func measureEmbedder(ctx context.Context, sys string, e engram.Embedder, texts []string, dir string, rounds int) (embedResult, error) {
	row := embedResult{System: sys, N: len(texts), Rounds: rounds}
	var embedR, storeR, textR, ratios []float64
	for round := range rounds {
		rdir := filepath.Join(dir, fmt.Sprint(round))
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return row, err
		}
		// 1. The embedder alone.
		start := time.Now()
		vecs, err := embedAll(ctx, e, texts)
		if err != nil {
			return row, err
		}
		embedR = append(embedR, float64(len(texts))/time.Since(start).Seconds())
		row.Dim = len(vecs[0])
		// 2. Storing the pre-embedded memories, durably.
		mems := make([]engram.Memory, len(texts))
		for i := range mems {
			mems[i] = engram.Memory{Content: texts[i], Embedding: vecs[i]}
		}
		rate, err := storeRate(ctx, filepath.Join(rdir, "store.db"), mems)
		if err != nil {
			return row, err
		}
		storeR = append(storeR, rate)
		// 3. Text in: the store embeds and stores.
		for i := range mems {
			mems[i].Embedding = nil
		}
		if rate, err = storeRate(ctx, filepath.Join(rdir, "text.db"), mems, engram.WithEmbedder(e)); err != nil {
			return row, err
		}
		textR = append(textR, rate)
		ratios = append(ratios, rate/min(embedR[round], storeR[round]))
		logf("%s round %d: embedded %.0f/s, stored pre-embedded %.0f/s, text in %.0f/s (ratio %.2f)",
			sys, round+1, embedR[round], storeR[round], rate, ratios[round])
	}
	row.TextsPerS, row.StorePerS, row.PipelinedPerS, row.Ratio = median(embedR), median(storeR), median(textR), median(ratios)
	return row, nil
}

// embedAll embeds texts in chunks of 256 on every core, as a space's embedding does.
func embedAll(ctx context.Context, e engram.Embedder, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for off := 0; off < len(texts); off += engram.DefaultEmbedChunk {
		end := min(off+engram.DefaultEmbedChunk, len(texts))
		g.Go(func() error {
			v, err := e.Embed(ctx, texts[off:end])
			copy(out[off:end], v)
			return err
		})
	}
	return out, g.Wait()
}

// storeRate stores mems with durable RememberAll (batches of 1000, two in flight: what
// RememberAll does by default in a space with an embedder, so both stores run the same
// schedule) into a fresh store and returns memories per second.
func storeRate(ctx context.Context, path string, mems []engram.Memory, opts ...engram.SpaceOption) (float64, error) {
	s, err := engram.Open(path)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	sp, err := s.Space(ctx, "texts", opts...)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	res, err := sp.RememberAll(ctx, mems, 1000, 2)
	if err != nil {
		return 0, err
	}
	if res.Failed > 0 {
		return 0, fmt.Errorf("%d of %d memories failed: %v", res.Failed, len(mems), res.Err())
	}
	return float64(len(mems)) / time.Since(start).Seconds(), nil
}

// sentences makes n short English sentences (6 to 16 words) from the GloVe set's 20,000
// most frequent words, drawn by their Zipf frequency, so both embedders see real words.
func sentences(words []string, n int, seed uint64) []string {
	vocab := words[:min(len(words), 20000)]
	// Zipf: weight 1/rank; sample by inverting the cumulative weights.
	cum := make([]float64, len(vocab))
	total := 0.0
	for i := range vocab {
		total += 1 / float64(i+1)
		cum[i] = total
	}
	r := rand.New(rand.NewPCG(seed, 77))
	pick := func() string {
		x := r.Float64() * total
		lo, hi := 0, len(cum)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if cum[mid] < x {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return vocab[lo]
	}
	out := make([]string, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		for w := range 6 + r.IntN(11) {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(pick())
		}
		out[i] = b.String()
	}
	return out
}

func meanWords(texts []string) float64 {
	words := 0
	for _, t := range texts {
		words += len(strings.Fields(t))
	}
	return float64(words) / float64(len(texts))
}
