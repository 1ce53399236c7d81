package engram

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram/vector"
)

// Property tests of filters against a brute-force model: random filters over random
// memories, answered by every plan, by ForgetWhere, and through their text form.

// propMemories are n random memories over a small vocabulary, so filters both hit and
// miss: keys k0..k2 (values v0..v3, sometimes absent), a number-ish key n (numbers, and
// values that are not), tags t0..t4, content of four words, creation over 100 days.
func propMemories(rng *rand.Rand, n, dim int) []Memory {
	nums := []string{"-2", "0", "1", "2.5", "10", "1e3", "abc", "NaN", "Inf", "", "-0", "0x10"}
	words := []string{"alpha", "beta", "gamma", "Delta"}
	mems := make([]Memory, n)
	for i := range mems {
		m := Memory{ID: fmt.Sprintf("p%03d", i), Embedding: randUnit(rng, dim), Metadata: map[string]string{},
			CreatedAt: day(rng.IntN(100)).Add(time.Duration(rng.IntN(1000)) * time.Second)}
		for k := range 3 {
			if rng.IntN(10) < 7 {
				m.Metadata[fmt.Sprintf("k%d", k)] = fmt.Sprintf("v%d", rng.IntN(4))
			}
		}
		if rng.IntN(10) < 8 {
			m.Metadata["n"] = nums[rng.IntN(len(nums))]
		}
		for t := range 5 {
			if rng.IntN(3) == 0 {
				m.Tags = append(m.Tags, fmt.Sprintf("t%d", t))
			}
		}
		var c []string
		for range rng.IntN(4) {
			c = append(c, words[rng.IntN(len(words))])
		}
		m.Content = strings.Join(c, " ")
		mems[i] = m
	}
	return mems
}

// model is a filter's meaning, written out directly.
type model func(m *Memory) bool

// randFilter returns a random filter and its model, nesting up to depth levels.
func randFilter(rng *rand.Rand, depth int) (Filter, model) {
	if depth > 0 && rng.IntN(3) > 0 {
		switch rng.IntN(3) {
		case 0:
			f, m := randFilter(rng, depth-1)
			return Not(f), func(x *Memory) bool { return !m(x) }
		case 1:
			fs, ms := randFilters(rng, depth-1, rng.IntN(4))
			return And(fs...), func(x *Memory) bool {
				for _, m := range ms {
					if !m(x) {
						return false
					}
				}
				return true
			}
		default:
			fs, ms := randFilters(rng, depth-1, 1+rng.IntN(3))
			return Or(fs...), func(x *Memory) bool {
				for _, m := range ms {
					if m(x) {
						return true
					}
				}
				return false
			}
		}
	}
	key := fmt.Sprintf("k%d", rng.IntN(3))
	val := func() string { return fmt.Sprintf("v%d", rng.IntN(5)) } // v4 never occurs
	bounds := []float64{math.Inf(-1), -2, 0, 1, 2.5, 16, 1000, math.Inf(1)}
	switch rng.IntN(8) {
	case 0:
		v := val()
		return Eq(key, v), func(x *Memory) bool { got, ok := x.Metadata[key]; return ok && got == v }
	case 1:
		vs := []string{val()}
		for range rng.IntN(3) {
			vs = append(vs, val())
		}
		return In(key, vs...), func(x *Memory) bool { got, ok := x.Metadata[key]; return ok && slices.Contains(vs, got) }
	case 2, 3:
		tag := fmt.Sprintf("t%d", rng.IntN(6))
		return HasTag(tag), func(x *Memory) bool { return slices.Contains(x.Tags, tag) }
	case 4:
		i, j := rng.IntN(len(bounds)), rng.IntN(len(bounds))
		lo, hi := bounds[min(i, j)], bounds[max(i, j)]
		return Range("n", lo, hi), func(x *Memory) bool {
			v, ok := x.Metadata["n"]
			f, err := strconv.ParseFloat(v, 64)
			return ok && err == nil && !math.IsNaN(f) && f >= lo && f <= hi
		}
	case 5:
		var from, to time.Time
		if rng.IntN(3) > 0 {
			from = day(rng.IntN(100))
		}
		if rng.IntN(3) > 0 {
			to = day(rng.IntN(100))
		}
		if !from.IsZero() && !to.IsZero() && from.After(to) {
			from, to = to, from
		}
		return CreatedBetween(from, to), func(x *Memory) bool {
			return (from.IsZero() || !x.CreatedAt.Before(from)) && (to.IsZero() || !x.CreatedAt.After(to))
		}
	case 6:
		s := []string{"alpha", "eta", "Delta", "delta", "a g", ""}[rng.IntN(6)]
		return ContentContains(s), func(x *Memory) bool { return strings.Contains(x.Content, s) }
	}
	n := 1 + rng.IntN(3)
	fn := func(m Memory) bool { return len(m.Tags) >= n }
	return FilterFunc(fn), func(x *Memory) bool { return fn(*x) }
}

func randFilters(rng *rand.Rand, depth, n int) ([]Filter, []model) {
	fs, ms := make([]Filter, n), make([]model, n)
	for i := range fs {
		fs[i], ms[i] = randFilter(rng, depth)
	}
	return fs, ms
}

// TestFilterProperty: random filters over random memories select exactly what the model
// says in every plan (postings, graph, exact scan; flat and graph indexes), the K nearest
// of the matches come out of the exact plans in order, and the text form selects the same.
func TestFilterProperty(t *testing.T) {
	const n, dim = 400, 8
	rng := rand.New(rand.NewPCG(11, 17))
	mems := propMemories(rng, n, dim)
	always := openTemp(t, withPostingsPay(func(int, int, int) bool { return true }))
	never := openTemp(t, withPostingsPay(func(int, int, int) bool { return false }))
	spaces := map[string]*Space{
		"flat-postings":  mustSpace(t, always, "flat", WithIndex(IndexFlat)),
		"graph-postings": mustSpace(t, always, "graph", WithIndex(IndexHNSW)),
		"flat-scan":      mustSpace(t, never, "flat", WithIndex(IndexFlat)),
		"graph-search":   mustSpace(t, never, "graph", WithIndex(IndexHNSW)),
	}
	for _, sp := range spaces {
		mustStore(t, sp, mems)
	}
	byID := map[string]*Memory{}
	for i := range mems {
		byID[mems[i].ID] = &mems[i]
	}
	iters := 300
	if testing.Short() {
		iters = 60
	}
	ctx := context.Background()
	for it := range iters {
		f, m := randFilter(rng, 3)
		var want []string
		for i := range mems {
			if m(&mems[i]) {
				want = append(want, mems[i].ID)
			}
		}
		wantAll := strings.Join(want, " ")
		for name, sp := range spaces {
			if got := matchIDs(t, sp, Query{Where: f}); got != wantAll {
				t.Fatalf("iteration %d, %s, filter %s:\n got %q\nwant %q", it, name, f, got, wantAll)
			}
		}
		// The K nearest matches, in order, from the exact plans.
		cue := randUnit(rng, dim)
		wantTop := nearest(cue, want, byID, 5)
		for name, q := range map[string]Query{
			"flat-postings":  {Where: f},
			"graph-postings": {Where: f},
			"graph-search":   {Where: f, Exact: true},
		} {
			q.Embedding, q.K, q.MinSimilarity, q.SimilarityOnly = cue, 5, -1, true
			before := spaces[name].plans.n[planPostings].Load()
			hits, err := spaces[name].Recall(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if name == "graph-postings" && spaces[name].plans.n[planPostings].Load() == before {
				continue // a filter the postings cannot list went to the graph: approximate
			}
			if len(hits) != len(wantTop) {
				t.Fatalf("iteration %d, %s: %d hits, want %d", it, name, len(hits), len(wantTop))
			}
			for i, h := range hits {
				if math.Abs(float64(h.Similarity-wantTop[i].sim)) > 1e-5 {
					t.Fatalf("iteration %d, %s: hit %d is %s (%.6f), want %s (%.6f)", it, name, i, h.Memory.ID, h.Similarity, wantTop[i].id, wantTop[i].sim)
				}
			}
		}
		// The text form means the same (a FilterFunc has none).
		if !strings.Contains(f.String(), "func") {
			back, err := ParseFilter(f.String())
			if err != nil {
				t.Fatalf("iteration %d: ParseFilter(%q): %v", it, f, err)
			}
			if back.String() != f.String() {
				t.Fatalf("iteration %d: %q parses back as %q", it, f, back)
			}
			if got := matchIDs(t, spaces["graph-postings"], Query{Where: back}); got != wantAll {
				t.Fatalf("iteration %d: parsed %q matched %q, want %q", it, f, got, wantAll)
			}
		}
	}
}

type scored struct {
	id  string
	sim float32
}

// nearest is the brute-force top k of ids by cosine similarity to cue.
func nearest(cue []float32, ids []string, byID map[string]*Memory, k int) []scored {
	q := slices.Clone(cue)
	vector.Normalize(q)
	var out []scored
	for _, id := range ids {
		v := slices.Clone(byID[id].Embedding)
		vector.Normalize(v)
		out = append(out, scored{id, vector.Dot(q, v)})
	}
	slices.SortFunc(out, func(a, b scored) int { return cmp.Compare(b.sim, a.sim) })
	return out[:min(k, len(out))]
}

// TestForgetWhereProperty: ForgetWhere forgets exactly the memories the model selects,
// whether the postings list the candidates or the space is scanned, in batches of any
// size, and leaves the postings equal to the records.
func TestForgetWhereProperty(t *testing.T) {
	const n, dim = 150, 4
	rng := rand.New(rand.NewPCG(5, 8))
	mems := propMemories(rng, n, dim)
	s := openTemp(t)
	iters := 40
	if testing.Short() {
		iters = 10
	}
	for it := range iters {
		sp := mustSpace(t, s, fmt.Sprintf("f%d", it))
		mustStore(t, sp, mems)
		f, m := randFilter(rng, 2)
		want := 0
		for i := range mems {
			if m(&mems[i]) {
				want++
			}
		}
		got, err := sp.ForgetWhere(context.Background(), 1+rng.IntN(40), f)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("iteration %d, filter %s: forgot %d, want %d", it, f, got, want)
		}
		for mem, err := range sp.All(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			if m(byIDOf(mems, mem.ID)) {
				t.Fatalf("iteration %d, filter %s: %s survived", it, f, mem.ID)
			}
		}
		if sp.Len() != n-want {
			t.Fatalf("iteration %d: Len %d, want %d", it, sp.Len(), n-want)
		}
		checkPostingsMatch(t, sp)
	}
}

func byIDOf(mems []Memory, id string) *Memory {
	for i := range mems {
		if mems[i].ID == id {
			return &mems[i]
		}
	}
	return nil
}
