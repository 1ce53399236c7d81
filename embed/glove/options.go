package glove

import (
	"fmt"
	"log/slog"
	"math"
)

// DefaultSmoothing is SIF's a: a word of probability p weighs a/(a+p). Arora et al. found
// a between 1e-4 and 1e-3 best on their benchmarks. On this package's rewording corpus with
// 40 filler words per cue (see sif.go), a from 3e-4 to 1e-2 find 96.1–97.0% of the
// originals on the full wink set and 1e-4 93.9%; the paper's 1e-3 (96.5%) stays.
const DefaultSmoothing = 1e-3

// Option configures New and LoadWink.
type Option func(*config) error

type config struct {
	smoothing   float64
	removePC    bool
	vocabulary  int // 0 = every word
	concurrency int // 0 = GOMAXPROCS
	logger      *slog.Logger

	// Variants measured by the tests (not options: the defaults are the measured best).
	weighting weighting
	pcSource  pcSource
	pcWords   int
	unitWords bool
}

type weighting uint8

const (
	weightSIF   weighting = iota // a/(a+p(w))
	weightPlain                  // 1: a plain average
)

func defaults() config {
	return config{
		smoothing: DefaultSmoothing,
		removePC:  true,
		weighting: weightSIF,
		pcSource:  defaultPCSource,
		pcWords:   defaultPCWords,
		logger:    slog.New(slog.DiscardHandler),
	}
}

// WithSmoothing sets SIF's a (default DefaultSmoothing): larger values flatten the weights
// towards a plain average, smaller ones mute frequent words harder. It must be positive and
// finite.
func WithSmoothing(a float64) Option {
	return func(c *config) error {
		if !(a > 0) || math.IsInf(a, 0) {
			return fmt.Errorf("glove: WithSmoothing(%v): want a positive finite value", a)
		}
		c.smoothing = a
		return nil
	}
}

// WithoutComponentRemoval keeps the weighted average as it is instead of removing its
// projection on the model's first principal component (SIF's second step).
func WithoutComponentRemoval() Option {
	return func(c *config) error {
		c.removePC = false
		return nil
	}
}

// WithVocabulary keeps only the n most frequent words (n > 0), to save memory: a model of
// the full wink set holds 151 MB of heap, one of its 50,000 most frequent words 22 MB and of
// 100,000 words 44 MB. Rarer words are then unknown (skipped). Frequencies keep referring
// to the full set.
func WithVocabulary(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("glove: WithVocabulary(%d): want a positive word count", n)
		}
		c.vocabulary = n
		return nil
	}
}

// WithConcurrency bounds the goroutines one Embed call uses for a large batch (default
// GOMAXPROCS; 1 embeds on the caller's goroutine). Results do not depend on it.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("glove: WithConcurrency(%d): want at least 1", n)
		}
		c.concurrency = n
		return nil
	}
}

// WithLogger receives LoadWink's progress (the one-time download and conversion).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("glove: WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}
