package hash

import (
	"fmt"

	"github.com/engram-go/engram/embed"
)

// Defaults. DefaultDimension is 384, from TestDimensionChoice (go test -v -run
// TestDimensionChoice ./embed/hash): 1,000 ten-word sentences over a Zipf vocabulary, each to
// be found again from a copy with three words replaced and the order shuffled. Rank-1 recall
// was 0.928 at 64 dimensions, 0.984 at 128, 0.995 at 256 and 384, 0.998 at 512 and 1024;
// collision noise (mean |cosine - collision-free cosine| of unrelated pairs) was 0.090,
// 0.061, 0.046, 0.035, 0.035, 0.021. 384 is where both have flattened; every further
// dimension costs 4 bytes per stored memory and per distance computed.
const (
	DefaultDimension    = 384
	DefaultWordNGrams   = 2       // words and word pairs
	DefaultCharMin      = 3       // character n-grams of 3 to 5 letters,
	DefaultCharMax      = 5       // as fastText uses for subword information
	DefaultMaxTextBytes = 1 << 20 // the store's default content limit (Limits.MaxContentBytes)
	maxDimension        = 1 << 16
	maxCharN            = 16
)

// Option configures an Embedder.
type Option func(*config) error

type config struct {
	dim          int
	wordN        int
	charMin      int
	charMax      int
	seed         uint64
	maxTextBytes int
}

func defaults() config {
	return config{
		dim:          DefaultDimension,
		wordN:        DefaultWordNGrams,
		charMin:      DefaultCharMin,
		charMax:      DefaultCharMax,
		maxTextBytes: DefaultMaxTextBytes,
	}
}

func optErr(option, format string, args ...any) error {
	return &embed.OptionError{Embedder: "hash", Option: option, Reason: fmt.Sprintf(format, args...)}
}

// WithDimension sets the vector length, 1 to 65536 (default DefaultDimension). More
// dimensions mean fewer hash collisions (unrelated texts look less alike) at 4 bytes per
// dimension per stored memory.
func WithDimension(d int) Option {
	return func(c *config) error {
		if d < 1 || d > maxDimension {
			return optErr("WithDimension", "dimension %d is outside 1..%d", d, maxDimension)
		}
		c.dim = d
		return nil
	}
}

// WithWordNGrams sets the longest run of consecutive words hashed as one feature: 1 for
// single words only, 2 (the default) to add word pairs, which keep a little word order
// ("dog bites man" differs from "man bites dog").
func WithWordNGrams(n int) Option {
	return func(c *config) error {
		if n != 1 && n != 2 {
			return optErr("WithWordNGrams", "%d is not 1 (words) or 2 (words and word pairs)", n)
		}
		c.wordN = n
		return nil
	}
}

// WithCharNGrams sets the range of character n-gram lengths hashed from each word, which
// is padded with '<' and '>' so that prefixes and suffixes are features of their own
// ("<ru", "ing>"); they make inflections and typos land near each other. min = max = 0
// turns them off; otherwise 1 <= min <= max <= 16. Default 3..5.
func WithCharNGrams(min, max int) Option {
	return func(c *config) error {
		if min == 0 && max == 0 {
			c.charMin, c.charMax = 0, 0
			return nil
		}
		if min < 1 || max < min || max > maxCharN {
			return optErr("WithCharNGrams", "range %d..%d is not within 1..%d (or 0..0 for none)", min, max, maxCharN)
		}
		c.charMin, c.charMax = min, max
		return nil
	}
}

// WithSeed changes the hash functions: embedders with different seeds produce unrelated
// vectors for the same text. The default is 0.
func WithSeed(seed uint64) Option {
	return func(c *config) error {
		c.seed = seed
		return nil
	}
}

// WithMaxTextBytes sets the longest text accepted, in bytes (default DefaultMaxTextBytes,
// 1 MiB, the store's own default content limit). A longer text fails alone.
func WithMaxTextBytes(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return optErr("WithMaxTextBytes", "limit %d is not positive", n)
		}
		c.maxTextBytes = n
		return nil
	}
}
