package engram

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/engram-go/engram/tier"
)

// DefaultConfidence is the confidence of a memory remembered without one.
const DefaultConfidence float32 = 1

// DefaultConfidenceWeight is the weight of confidence in recall scores of a space created
// without WithConfidenceWeight.
const DefaultConfidenceWeight float32 = 0.5

// Tier re-exports tier.Tier so most callers need only this package.
type Tier = tier.Tier

// The tiers a memory can live in.
const (
	Hot  = tier.Hot
	Warm = tier.Warm
	Cold = tier.Cold
)

// Memory is one remembered item.
type Memory struct {
	// ID identifies the memory within its space: 1 to Limits.MaxIDBytes bytes of valid
	// UTF-8 without control characters. Leave it empty to have one generated: 26 characters,
	// unique, and sorting in creation order (see NewID). Remembering an existing ID replaces
	// that memory.
	ID string `json:"id,omitempty"`
	// Content is the memory's payload (text, JSON, ...), at most Limits.MaxContentBytes.
	Content string `json:"content,omitempty"`
	// Embedding is the vector recall compares. Every memory of a space has the space's
	// dimension; components must be finite and not all zero. It is stored unit-normalized,
	// so the Embedding read back is the normalized vector.
	Embedding []float32 `json:"embedding"`
	// Confidence, in [0,1], says how much the memory is trusted. nil means unset and stores
	// DefaultConfidence; use Confidence(0) to store zero. Memories read back always have it
	// set (use Conf to read it without a nil check).
	Confidence *float32 `json:"confidence,omitempty"`
	// CreatedAt defaults to the time of the write when zero.
	CreatedAt time.Time `json:"created_at,omitzero"`
	// ExpiresAt is when the memory expires; zero means never, or the space's default
	// (WithTTL) when written. From that instant the memory is invisible to every read and
	// the migrator removes it. Read back, it is the effective expiry, extended by recalls
	// under WithTTLRefresh.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// LastAccess and AccessCount are maintained by the store: each recall that returns the
	// memory sets LastAccess to now and adds one to AccessCount. Values given on write are
	// ignored; replacing a memory keeps them.
	LastAccess  time.Time `json:"last_access,omitzero"`
	AccessCount uint32    `json:"access_count,omitempty"`
	// Metadata and Tags are what filters test (Query.Where). Together they are bounded by
	// Limits.MaxMetadataBytes and Limits.MaxMetadataItems.
	Metadata map[string]string `json:"metadata,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	// Tier is where the memory lives; set by the store, ignored on write.
	Tier Tier `json:"-"`
}

// Confidence returns a pointer to c, for Memory.Confidence literals.
func Confidence(c float32) *float32 { return &c }

// Conf returns the memory's confidence, or DefaultConfidence when unset.
func (m *Memory) Conf() float32 {
	if m.Confidence == nil {
		return DefaultConfidence
	}
	return *m.Confidence
}

// Query asks a space for the memories nearest to a cue.
type Query struct {
	// Embedding is the cue; it must have the space's dimension. It need not be normalized.
	Embedding []float32
	// Text is the cue as text, embedded by the space's Embedder (WithEmbedder; its
	// embeddings of recent query texts are cached: WithQueryCache). Give Embedding or Text,
	// not both.
	Text string
	// K is how many memories to return at most, 1 to Limits.MaxK.
	K int
	// MinSimilarity drops hits whose cosine similarity is below it, in [-1,1]. The zero
	// value keeps only non-negatively correlated memories; use -1 to keep all.
	MinSimilarity float32
	// MinConfidence drops memories whose confidence is below it, in [0,1].
	MinConfidence float32
	// Where keeps only the memories the filter matches (see Filter); nil keeps all.
	Where Filter
	// Metadata keeps only memories holding every key with exactly the given value, and
	// Tags only those carrying every listed tag: together with Where, an And of Eq and
	// HasTag tests.
	Metadata map[string]string
	Tags     []string
	// Exact forces an exhaustive scan instead of the approximate index.
	Exact bool
	// Breadth is the candidate-list size of the approximate index (HNSW's ef): larger is
	// more accurate and slower. 0 uses the index default; exact search ignores it.
	Breadth int
	// Tiers names the tiers to search. The zero value searches hot and warm together —
	// the hot graph and the warm tier's index of 8-bit codes, whose candidates are re-ranked
	// at full precision — and keeps the K most similar of both, so a memory is found
	// whichever of the two it is in. tier.Of(tier.Hot) searches the hot memories alone (the
	// fastest query); tier.All or tier.Of(tier.Cold) add the cold tier, which is searched
	// only when named (a scan of its records). Exact makes every named tier's search
	// exhaustive; Breadth widens the hot and warm searches alike.
	Tiers tier.Set
	// SimilarityOnly orders hits by similarity alone, ignoring the confidence weight.
	SimilarityOnly bool
	// SkipEmbedding leaves Hit.Memory.Embedding nil, sparing the copy of d floats per hit
	// when the caller needs only content, metadata and scores. By default every hit carries
	// its (unit-normalized) embedding.
	SkipEmbedding bool
}

// Hit is one recalled memory.
type Hit struct {
	Memory Memory
	// Similarity is the cosine similarity of the memory's embedding to the cue, at full
	// precision whatever the memory's tier.
	Similarity float32
	// Confidence is the confidence the score used: the stored one, or its decayed value when
	// the space has confidence decay (WithDecay); the stored one stays in Memory.
	Confidence float32
	// Score ranks hits: Similarity × (1 − w + w × Confidence) × boost, with w the space's
	// confidence weight (0 under Query.SimilarityOnly) and boost the decay's recency boost
	// (1 without one). Scores of every tier compare directly: the similarity of a warm or
	// cold memory is recomputed from its full-precision record. Hits are sorted by Score.
	Score float32

	seq uint64 // the record's key, for the store's bookkeeping
}

// ItemResult is the outcome of one item of a batch.
type ItemResult struct {
	// ID is the stored memory's ID (generated if the item had none); empty on failure.
	ID string
	// Err is nil when the item was stored, else an *Error with the item's code.
	Err error
	// Replaced is true when the item replaced an existing memory with the same ID.
	Replaced bool
}

// checkMetadata returns why m's metadata and tags exceed the limits, or "".
func checkMetadata(m *Memory, lim Limits) string {
	items := len(m.Metadata) + len(m.Tags)
	if items > lim.MaxMetadataItems {
		return fmt.Sprintf("%d metadata entries and tags exceed the limit %d", items, lim.MaxMetadataItems)
	}
	size := 0
	for k, v := range m.Metadata {
		size += len(k) + len(v)
	}
	for _, t := range m.Tags {
		size += len(t)
	}
	if size > lim.MaxMetadataBytes {
		return fmt.Sprintf("metadata and tags of %d bytes exceed the limit %d", size, lim.MaxMetadataBytes)
	}
	return ""
}

// checkID validates a caller-supplied memory ID.
func (s *Store) checkID(id string) error { return s.validID(id, false) }

// checkNewID is checkID for an ID about to be stored, which must also be free of C1
// control characters (invisible in logs, unsafe in terminals). Lookups use checkID alone,
// so memories stored before this rule stay reachable by their IDs.
func (s *Store) checkNewID(id string) error { return s.validID(id, true) }

func (s *Store) validID(id string, noC1 bool) error {
	if id == "" {
		return errors.New("empty ID")
	}
	if len(id) > s.limit.MaxIDBytes {
		return fmt.Errorf("ID of %d bytes exceeds the limit %d", len(id), s.limit.MaxIDBytes)
	}
	if !utf8.ValidString(id) {
		return errors.New("ID is not valid UTF-8")
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || (noC1 && unicode.IsControl(r)) {
			return fmt.Errorf("ID contains control character %U", r)
		}
	}
	return nil
}
