package main

import (
	"bufio"
	"encoding/json"
	"os"

	"github.com/engram-go/engram/synth"
)

// synthCmd writes `engram synth -n N --dim D > memories.jsonl`: one JSON object per line in
// the engram.Memory JSON form (id, content, embedding, confidence, created_at, metadata,
// tags). The same flags always produce the same bytes.
type synthCmd struct {
	N      int     `short:"n" default:"1000" help:"Number of memories."`
	Dim    int     `default:"384" help:"Embedding dimension."`
	Seed   uint64  `default:"1" help:"Random seed; the same seed gives the same output."`
	Topics int     `default:"16" help:"Number of topic clusters."`
	Spread float64 `default:"0.35" help:"Noise around each topic centre (cosine to centre about 1/sqrt(1+spread^2))."`
	Prefix string  `default:"mem" help:"ID prefix (IDs are prefix-000000, ...); empty leaves IDs to the store."`
	Text   bool    `help:"Text-only memories: content and no embedding, for a store that embeds (engram import --embedder)."`
}

func (c *synthCmd) Run() error {
	g := synth.New(synth.Config{Seed: c.Seed, Dim: c.Dim, Topics: c.Topics, Spread: c.Spread, IDPrefix: c.Prefix})
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	for m := range g.All(c.N) {
		if c.Text {
			m.Embedding = nil
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return w.Flush()
}
