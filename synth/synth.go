// Package synth generates deterministic synthetic memories: clustered unit-norm
// embeddings of any dimension with text content, timestamps, confidences and metadata that
// match their cluster. The same Config (seed included) always yields the same memories,
// byte for byte, so tests, benchmarks, the demo and offline dataset generation
// (`engram synth`) are reproducible.
//
// Each memory belongs to a topic. A topic has a random unit centre in embedding space and
// a vocabulary; a memory's embedding is its topic centre plus Gaussian noise (Spread),
// renormalized, and its content is a sentence built from the topic's vocabulary — so
// memories that read alike also sit close together, as with a real embedding model.
package synth

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/engram-go/engram"
)

// Config shapes the generated data. Zero fields take the defaults noted.
type Config struct {
	Seed   uint64 // default 1
	Dim    int    // embedding dimension, default 384
	Topics int    // clusters, default 16
	// Spread scales the noise around a topic centre (default 0.35): a memory lies at cosine
	// ≈ 1/√(1+Spread²) ≈ 0.94 from its centre, and memories of one topic ≈ 0.89 apart.
	Spread float64
	// Start and End bound CreatedAt (default: the year before 2026-01-01).
	Start, End time.Time
	// IDPrefix, when set, gives memories the IDs prefix-000000, prefix-000001, ...; when
	// empty the IDs are left empty and the store generates them.
	IDPrefix string
}

func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Dim <= 0 {
		c.Dim = 384
	}
	if c.Topics <= 0 {
		c.Topics = 16
	}
	if c.Spread <= 0 {
		c.Spread = 0.35
	}
	if c.End.IsZero() {
		c.End = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Start.IsZero() || !c.Start.Before(c.End) {
		c.Start = c.End.AddDate(-1, 0, 0)
	}
	return c
}

// Generator produces memories; it is not safe for concurrent use.
type Generator struct {
	cfg    Config
	rng    *rand.Rand
	topics []topic
	n      int
}

type topic struct {
	name   string
	centre []float32
	words  []string
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0xda3e39cb94b95bdb))}
	for i := 0; i < cfg.Topics; i++ {
		name := topicNames[i%len(topicNames)]
		if i >= len(topicNames) {
			name = fmt.Sprintf("%s-%d", name, i/len(topicNames))
		}
		t := topic{name: name, centre: g.unit(), words: vocab[name]}
		g.topics = append(g.topics, t)
	}
	return g
}

// Config returns the generator's configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// unit draws a random unit vector.
func (g *Generator) unit() []float32 {
	v := make([]float64, g.cfg.Dim)
	for i := range v {
		v[i] = g.rng.NormFloat64()
	}
	return unitOf(v)
}

// near returns a unit vector around centre: centre + spread × a random unit direction.
func (g *Generator) near(centre []float32) []float32 {
	noise := g.unit()
	v := make([]float64, len(centre))
	for i := range v {
		v[i] = float64(centre[i]) + g.cfg.Spread*float64(noise[i])
	}
	return unitOf(v)
}

// unitOf returns v scaled to unit length, as float32. The sum is taken in float64, so the
// same seed gives the same vectors on every platform.
func unitOf(v []float64) []float32 {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	inv := 1 / math.Sqrt(ss)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(float32(x)) * inv) // rounded first, as the vectors always were
	}
	return out
}

// Next returns the next memory.
func (g *Generator) Next() engram.Memory {
	t := &g.topics[g.rng.IntN(len(g.topics))]
	m := engram.Memory{
		Content:    g.sentence(t),
		Embedding:  g.near(t.centre),
		Confidence: engram.Confidence(g.confidence()),
		CreatedAt:  g.timestamp(),
		Metadata: map[string]string{
			"topic":   t.name,
			"source":  sources[g.rng.IntN(len(sources))],
			"session": fmt.Sprintf("s%04d", g.rng.IntN(500)),
			"lang":    "en",
		},
		Tags: []string{t.name},
	}
	if g.rng.IntN(4) == 0 {
		m.Tags = append(m.Tags, extraTags[g.rng.IntN(len(extraTags))])
	}
	if g.cfg.IDPrefix != "" {
		m.ID = fmt.Sprintf("%s-%06d", g.cfg.IDPrefix, g.n)
	}
	g.n++
	return m
}

// Batch returns the next n memories.
func (g *Generator) Batch(n int) []engram.Memory {
	out := make([]engram.Memory, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// All yields n memories.
func (g *Generator) All(n int) iter.Seq[engram.Memory] {
	return func(yield func(engram.Memory) bool) {
		for i := 0; i < n; i++ {
			if !yield(g.Next()) {
				return
			}
		}
	}
}

// Cue returns a query embedding near a random topic's centre, and the topic's name: what a
// recall about that topic looks like.
func (g *Generator) Cue() ([]float32, string) {
	t := &g.topics[g.rng.IntN(len(g.topics))]
	return g.near(t.centre), t.name
}

// confidence draws from a skewed mixture: most memories are trusted, some doubtful, few
// unreliable (70% in [0.7,1], 25% in [0.3,0.7), 5% in [0,0.3)).
func (g *Generator) confidence() float32 {
	u := g.rng.Float64()
	var c float64
	switch {
	case u < 0.70:
		c = 0.7 + 0.3*g.rng.Float64()
	case u < 0.95:
		c = 0.3 + 0.4*g.rng.Float64()
	default:
		c = 0.3 * g.rng.Float64()
	}
	return float32(math.Round(c*1000) / 1000)
}

func (g *Generator) timestamp() time.Time {
	span := g.cfg.End.Sub(g.cfg.Start)
	return g.cfg.Start.Add(time.Duration(g.rng.Int64N(int64(span)))).Truncate(time.Millisecond).UTC()
}

func (g *Generator) sentence(t *topic) string {
	pick := func(ws []string) string { return ws[g.rng.IntN(len(ws))] }
	var b strings.Builder
	b.WriteString(pick(openers))
	b.WriteString(" ")
	for i, n := 0, 3+g.rng.IntN(4); i < n; i++ {
		if i > 0 {
			b.WriteString(pick(joiners))
		}
		b.WriteString(pick(t.words))
	}
	b.WriteString(" ")
	b.WriteString(pick(closers))
	return b.String()
}

var (
	sources   = []string{"chat", "email", "document", "web", "meeting", "note"}
	extraTags = []string{"important", "follow-up", "personal", "work", "idea", "question"}
	openers   = []string{"The user mentioned", "I learned that", "We discussed", "Remember that", "Noted:", "They asked about", "Reminder:"}
	joiners   = []string{" and ", ", ", " with ", " before ", " after ", " about "}
	closers   = []string{"last week.", "during the call.", "in passing.", "as a priority.", "for the next sprint.", "at lunch.", "yesterday."}
)

var topicNames = []string{"cooking", "travel", "fitness", "music", "finance", "gardening", "programming",
	"health", "movies", "family", "books", "weather", "cars", "pets", "shopping", "education"}

var vocab = map[string][]string{
	"cooking":     {"pasta recipes", "the sourdough starter", "spicy curry", "fresh basil", "a cast-iron pan", "slow-roasted tomatoes", "weekend brunch", "the farmers market"},
	"travel":      {"a flight to Lisbon", "the hotel booking", "train passes", "the museum tour", "packing lists", "a rental car", "jet lag", "the visa appointment"},
	"fitness":     {"morning runs", "the gym schedule", "interval training", "a sore knee", "yoga classes", "protein intake", "the half marathon", "stretching"},
	"music":       {"jazz records", "guitar lessons", "the concert tickets", "a new playlist", "piano practice", "the vinyl collection", "band rehearsal", "music theory"},
	"finance":     {"the budget spreadsheet", "index funds", "tax returns", "the mortgage rate", "monthly savings", "credit card fees", "the pension plan", "invoices"},
	"gardening":   {"tomato seedlings", "the compost bin", "spring bulbs", "pruning roses", "the vegetable bed", "watering schedule", "aphids", "raised beds"},
	"programming": {"the Go service", "a flaky test", "database indexes", "code review", "the deploy pipeline", "memory leaks", "API design", "concurrency bugs"},
	"health":      {"the dentist appointment", "allergy season", "sleep quality", "blood pressure", "vitamin D", "the eye exam", "a cold", "physiotherapy"},
	"movies":      {"the film festival", "a sci-fi series", "documentaries", "the cinema", "classic westerns", "streaming services", "the director's cut", "animated films"},
	"family":      {"the birthday party", "grandma's visit", "school pickup", "the family dinner", "holiday plans", "the kids' homework", "a wedding", "photo albums"},
	"books":       {"a mystery novel", "the book club", "poetry", "the library card", "a biography", "audiobooks", "history books", "the reading list"},
	"weather":     {"the storm warning", "a heat wave", "heavy rain", "the forecast", "snow tires", "sunny afternoons", "the humidity", "frost at night"},
	"cars":        {"the oil change", "winter tires", "an electric car", "the insurance renewal", "a flat battery", "the road trip", "parking permits", "the car wash"},
	"pets":        {"the dog walker", "cat food", "the vet visit", "a new puppy", "the aquarium", "flea treatment", "pet insurance", "obedience training"},
	"shopping":    {"the grocery list", "a new laptop", "online orders", "the return policy", "winter boots", "discount codes", "the furniture store", "gift ideas"},
	"education":   {"the online course", "exam preparation", "a language app", "the thesis draft", "study groups", "tuition fees", "lecture notes", "a certificate"},
}
