package glove

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// The rewording test (issue 12's target): every corpus sentence is reworded by the code
// below, the originals are embedded as the stored memories, and each reworded sentence
// must find its own original at rank 1 (highest cosine among all originals). A rewording
//
//   - changes the word order: the adverbial moves to the front ("Every evening, he ...");
//   - adds a stop word (a leading connective: "Then", "So", "Also", "And", "Well") and drops
//     one (the main clause's first article);
//   - replaces one content word, chosen by a seeded generator, by its nearest neighbour in
//     the fixture's word vectors (cosine), skipping the word itself, trivial variants
//     (plurals, inflections, compounds: see trivialVariant), stop words, numbers and
//     hyphenated forms.

// stopWords are function words: never the replaced content word nor a replacement.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but nor of to in on at for with by from over into onto
		up out off about after before during until across along against between through throughout
		within without under near beneath below above around as than that which who whom whose
		when while where because so then also just very too really still even is are was were be
		been being am do does did has have had will would can could must should may might shall
		i me my mine we us our you your he him his she her it its they them their this these those
		there here not no all each every some any more most less few many much such own
		one two three four five six seven eight nine ten fifty hundred thousand first second third
		fourth fifth ninth well again once how what why if`) {
		m[w] = true
	}
	return m
}()

type rewording struct {
	original, reworded string
	replaced, with     string // the content word and its neighbour
}

// trivialVariant says whether c is the word w in another form rather than another word:
// one contains the other (plural, compound, prefix), or they share all but the last two
// letters of the shorter (inflection: "decide"/"decision", "runner"/"running").
func trivialVariant(w, c string) bool {
	if strings.Contains(c, w) || strings.Contains(w, c) {
		return true
	}
	n := 0
	for n < len(w) && n < len(c) && w[n] == c[n] {
		n++
	}
	return n >= 4 && n >= min(len(w), len(c))-2
}

func isAlpha(s string) bool {
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return s != ""
}

// neighbours finds nearest neighbours by cosine over a set's raw word vectors.
type neighbours struct {
	v    *Vectors
	unit []float32
	pos  map[string]int
}

func newNeighbours(v *Vectors) *neighbours {
	n := &neighbours{v: v, unit: make([]float32, len(v.Data)), pos: map[string]int{}}
	for i, w := range v.Words {
		n.pos[w] = i
		var ss float64
		for _, x := range v.Vector(i) {
			ss += float64(x) * float64(x)
		}
		inv := float32(1 / math.Sqrt(ss))
		for j, x := range v.Vector(i) {
			n.unit[i*v.Dim+j] = x * inv
		}
	}
	return n
}

// nearest returns w's nearest neighbour that is a different, plain, content word.
func (n *neighbours) nearest(w string) (string, bool) {
	i, ok := n.pos[w]
	if !ok {
		return "", false
	}
	d := n.v.Dim
	q := n.unit[i*d : (i+1)*d]
	best, bestSim := -1, float32(-2)
	for j, c := range n.v.Words {
		if j == i || len(c) < 3 || !isAlpha(c) || stopWords[c] || trivialVariant(w, c) {
			continue
		}
		var s float32
		for k, x := range n.unit[j*d : (j+1)*d] {
			s += x * q[k]
		}
		if s > bestSim {
			best, bestSim = j, s
		}
	}
	if best < 0 {
		return "", false
	}
	return n.v.Words[best], true
}

// reword builds the pairs for corpus over v's vocabulary.
func reword(t testing.TB, v *Vectors) []rewording { return rewordN(t, v, 1) }

var rewordCache struct {
	sync.Mutex
	m map[rewordKey][]rewording
}

type rewordKey struct {
	v *Vectors
	k int
}

// rewordN replaces up to k content words (k > 1: harder variants, used to compare methods
// when k = 1 leaves nothing to tell them apart). The nearest-neighbour search is the slow
// part (seconds under -race), so results are shared between tests.
func rewordN(t testing.TB, v *Vectors, k int) []rewording {
	t.Helper()
	rewordCache.Lock()
	defer rewordCache.Unlock()
	if p, ok := rewordCache.m[rewordKey{v, k}]; ok {
		return slices.Clone(p)
	}
	p := buildRewordings(t, v, k)
	if rewordCache.m == nil {
		rewordCache.m = map[rewordKey][]rewording{}
	}
	rewordCache.m[rewordKey{v, k}] = p
	return slices.Clone(p)
}

func buildRewordings(t testing.TB, v *Vectors, k int) []rewording {
	t.Helper()
	nn := newNeighbours(v)
	connectives := []string{"Then", "So", "Also", "And", "Well"}
	out := make([]rewording, 0, len(corpus))
	for i, s := range corpus {
		main, adv, ok := strings.Cut(s, "|")
		if !ok {
			t.Fatalf("corpus %d has no adverbial: %q", i, s)
		}
		mainW, advW := strings.Fields(main), strings.Fields(adv)
		// Drop the main clause's first article.
		for k, w := range mainW {
			if lw := strings.ToLower(w); lw == "the" || lw == "a" || lw == "an" {
				mainW = slices.Delete(mainW, k, k+1)
				break
			}
		}
		// Replace one content word by its neighbour.
		type slot struct {
			words []string
			k     int
		}
		var cands []slot
		for _, ws := range [][]string{mainW, advW} {
			for k, w := range ws {
				lw := strings.ToLower(strings.TrimRight(w, ",.;:"))
				if len(lw) >= 3 && isAlpha(lw) && !stopWords[lw] {
					if _, ok := nn.pos[lw]; ok {
						cands = append(cands, slot{ws, k})
					}
				}
			}
		}
		if len(cands) == 0 {
			t.Fatalf("corpus %d: no replaceable content word", i)
		}
		r := rand.New(rand.NewPCG(uint64(i), 12))
		var replaced, withs []string
		for n, c := range r.Perm(len(cands)) {
			if n == k {
				break
			}
			pick := cands[c]
			word := pick.words[pick.k]
			core := strings.TrimRight(word, ",.;:")
			lw := strings.ToLower(core)
			with, ok := nn.nearest(lw)
			if !ok {
				t.Fatalf("corpus %d: no neighbour for %q", i, lw)
			}
			rep := with
			if unicode.IsUpper(rune(core[0])) {
				rep = strings.ToUpper(with[:1]) + with[1:]
			}
			pick.words[pick.k] = rep + word[len(core):]
			replaced, withs = append(replaced, lw), append(withs, with)
		}
		// Front the adverbial; lower-case the old start of the sentence (no sentence of
		// the corpus starts with a name).
		if mainW[0] != "I" {
			mainW[0] = strings.ToLower(mainW[0][:1]) + mainW[0][1:]
		}
		reworded := fmt.Sprintf("%s, %s, %s.", connectives[i%len(connectives)], strings.Join(advW, " "), strings.Join(mainW, " "))
		original := strings.TrimSpace(main) + " " + strings.TrimSpace(adv) + "."
		out = append(out, rewording{original: original, reworded: reworded, replaced: strings.Join(replaced, " "), with: strings.Join(withs, " ")})
	}
	return out
}

// embedder is engram.Embedder (the root package is not imported by this one).
type embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// rewordScore embeds the originals and the rewordings with e and returns the share of
// rewordings whose original is the strictly most similar of all originals, and the mean
// reciprocal rank of the original. A text e fails to embed counts as a miss.
func rewordScore(ctx context.Context, e embedder, pairs []rewording) (rank1, mrr float64, misses []int, err error) {
	orig := make([]string, len(pairs))
	rew := make([]string, len(pairs))
	for i, p := range pairs {
		orig[i], rew[i] = p.original, p.reworded
	}
	ov, err := e.Embed(ctx, orig)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("originals: %w", err)
	}
	rv, err := e.Embed(ctx, rew)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("rewordings: %w", err)
	}
	hits := 0
	for i, q := range rv {
		own := dot(q, ov[i])
		rank := 1
		for j, o := range ov {
			if j != i && dot(q, o) >= own {
				rank++
			}
		}
		if rank == 1 {
			hits++
		} else {
			misses = append(misses, i)
		}
		mrr += 1 / float64(rank)
	}
	n := float64(len(pairs))
	return float64(hits) / n, mrr / n, misses, nil
}

// wordCount counts the whole-word, case-insensitive occurrences of w in s.
func wordCount(s, w string) int {
	n := 0
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
		if f == w {
			n++
		}
	}
	return n
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestRewordingsAreRealRewordings(t *testing.T) {
	pairs := reword(t, fixtureVectors(t))
	if len(pairs) < 200 {
		t.Fatalf("%d pairs, the target needs at least 200", len(pairs))
	}
	seen := map[string]bool{}
	for i, p := range pairs {
		if seen[p.original] {
			t.Errorf("duplicate sentence %q", p.original)
		}
		seen[p.original] = true
		if p.replaced == p.with || trivialVariant(p.replaced, p.with) || stopWords[p.with] {
			t.Errorf("pair %d: %q replaced by %q", i, p.replaced, p.with)
		}
		if got, want := wordCount(p.reworded, p.replaced), wordCount(p.original, p.replaced)-1; got != want {
			t.Errorf("pair %d: %q occurs %d times in %q, want %d", i, p.replaced, got, p.reworded, want)
		}
		if wordCount(p.reworded, p.with) < 1 {
			t.Errorf("pair %d: %q missing from %q", i, p.with, p.reworded)
		}
		if strings.EqualFold(p.original, p.reworded) {
			t.Errorf("pair %d: not reworded", i)
		}
		if !unicode.IsUpper(rune(p.reworded[0])) || !strings.HasSuffix(p.reworded, ".") {
			t.Errorf("pair %d: not a sentence: %q", i, p.reworded)
		}
	}
	for _, i := range []int{0, 9, 61, 229} {
		t.Logf("%q\n    -> %q (%s -> %s)", pairs[i].original, pairs[i].reworded, pairs[i].replaced, pairs[i].with)
	}
}

// TestRewordingRank1 is the target on the committed fixture: ≥ 90% at rank 1 for
// the default SIF model.
func TestRewordingRank1(t *testing.T) {
	ctx := context.Background()
	pairs := reword(t, fixtureVectors(t))
	rank1, mrr, misses, err := rewordScore(ctx, fixtureModel(t), pairs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIF (default) on the fixture: rank-1 %.3f (%d/%d), MRR %.3f", rank1, len(pairs)-len(misses), len(pairs), mrr)
	for _, i := range misses {
		t.Logf("  miss %d: %q -> %q", i, pairs[i].original, pairs[i].reworded)
	}
	if rank1 < 0.9 {
		t.Fatalf("rank-1 %.3f below the 0.90 target", rank1)
	}
}
