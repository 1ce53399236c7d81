package engram

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// day is a creation time of the filter fixture: 2024-01-01 plus d days.
func day(d int) time.Time { return time.Date(2024, 1, 1+d, 0, 0, 0, 0, time.UTC) }

// filterFixture is eight memories covering the corners of every test: missing keys,
// values that are not numbers (and "NaN", "Inf"), empty keys, values and tags, case.
func filterFixture() []Memory {
	mk := func(id, content string, created int, meta map[string]string, tags ...string) Memory {
		return Memory{ID: id, Content: content, CreatedAt: day(created), Metadata: meta, Tags: tags,
			Embedding: []float32{1, float32(len(id) + created), float32(created % 3)}}
	}
	return []Memory{
		mk("m1", "alpha beta", 0, map[string]string{"cat": "news", "score": "1"}, "a"),
		mk("m2", "Beta gamma", 31, map[string]string{"cat": "news", "score": "2.5"}, "a", "b"),
		mk("m3", "gamma", 60, map[string]string{"cat": "chat", "score": "abc"}, "b"),
		mk("m4", "", 91, map[string]string{"cat": "code", "score": "-3"}),
		mk("m5", "alpha", 121, map[string]string{"score": "NaN"}, "c"),
		mk("m6", "delta", 152, map[string]string{"cat": "news", "score": "1e3"}),
		mk("m7", "ALPHA", 182, map[string]string{"cat": "chat"}, "a", "c"),
		mk("m8", "alphabet", 213, map[string]string{"cat": "", "score": "Inf", "": "empty"}, ""),
	}
}

// filterCases are the constructors and their combinations with the fixture memories each
// must match.
var filterCases = []struct {
	name string
	f    Filter
	want string // space-separated IDs
}{
	{"Eq", Eq("cat", "news"), "m1 m2 m6"},
	{"Eq empty value", Eq("cat", ""), "m8"},
	{"Eq empty key", Eq("", "empty"), "m8"},
	{"Eq absent value", Eq("cat", "sport"), ""},
	{"Eq absent key", Eq("colour", "red"), ""},
	{"Eq case-sensitive", Eq("cat", "NEWS"), ""},
	{"In", In("cat", "chat", "code"), "m3 m4 m7"},
	{"In one", In("cat", "code"), "m4"},
	{"In repeated value", In("cat", "code", "code"), "m4"},
	{"HasTag", HasTag("a"), "m1 m2 m7"},
	{"HasTag empty", HasTag(""), "m8"},
	{"HasTag absent", HasTag("z"), ""},
	{"Range closed", Range("score", 1, 2.5), "m1 m2"},
	{"Range open above", Range("score", 0, math.Inf(1)), "m1 m2 m6 m8"},
	{"Range open below", Range("score", math.Inf(-1), 0), "m4"},
	{"Range everything numeric", Range("score", math.Inf(-1), math.Inf(1)), "m1 m2 m4 m6 m8"},
	{"Range point", Range("score", 1000, 1000), "m6"},
	{"Range absent key", Range("colour", 0, 1), ""},
	{"CreatedBetween", CreatedBetween(day(31), day(121)), "m2 m3 m4 m5"},
	{"CreatedBetween open end", CreatedBetween(day(152), time.Time{}), "m6 m7 m8"},
	{"CreatedBetween open start", CreatedBetween(time.Time{}, day(30)), "m1"},
	{"CreatedBetween instant", CreatedBetween(day(60), day(60)), "m3"},
	{"CreatedBetween open both", CreatedBetween(time.Time{}, time.Time{}), "m1 m2 m3 m4 m5 m6 m7 m8"},
	{"CreatedBetween far bounds", CreatedBetween(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)), "m1 m2 m3 m4 m5 m6 m7 m8"},
	{"ContentContains", ContentContains("alpha"), "m1 m5 m8"},
	{"ContentContains case-sensitive", ContentContains("Beta"), "m2"},
	{"ContentContains empty", ContentContains(""), "m1 m2 m3 m4 m5 m6 m7 m8"},
	{"Not Eq (keyless match)", Not(Eq("cat", "news")), "m3 m4 m5 m7 m8"},
	{"Not HasTag", Not(HasTag("a")), "m3 m4 m5 m6 m8"},
	{"Not Range", Not(Range("score", 1, 2.5)), "m3 m4 m5 m6 m7 m8"},
	{"Not Not", Not(Not(HasTag("b"))), "m2 m3"},
	{"And", And(Eq("cat", "news"), HasTag("a")), "m1 m2"},
	{"And empty", And(), "m1 m2 m3 m4 m5 m6 m7 m8"},
	{"And one", And(HasTag("c")), "m5 m7"},
	{"And disjoint", And(Eq("cat", "news"), Eq("cat", "chat")), ""},
	{"And postings and record", And(HasTag("a"), ContentContains("ALPHA")), "m7"},
	{"Or", Or(Eq("cat", "code"), HasTag("c")), "m4 m5 m7"},
	{"Or one", Or(HasTag("b")), "m2 m3"},
	{"Or postings and record", Or(HasTag("b"), Range("score", 500, 5000)), "m2 m3 m6"},
	{"Or overlapping", Or(HasTag("a"), Eq("cat", "news")), "m1 m2 m6 m7"},
	{"And Or Not", And(Or(Eq("cat", "news"), Eq("cat", "chat")), Not(HasTag("a"))), "m3 m6"},
	{"Not And", Not(And(Eq("cat", "news"), HasTag("a"))), "m3 m4 m5 m6 m7 m8"},
	{"Not Or", Not(Or(HasTag("a"), HasTag("b"), HasTag("c"))), "m4 m6 m8"},
	{"Or of Ands", Or(And(Eq("cat", "news"), Range("score", 2, 3)), And(HasTag("c"), ContentContains("alpha"))), "m2 m5"},
	{"created and content", And(CreatedBetween(day(100), time.Time{}), ContentContains("lph")), "m5 m8"},
	{"FilterFunc", FilterFunc(func(m Memory) bool { return len(m.Tags) == 2 }), "m2 m7"},
	{"FilterFunc in And", And(Eq("cat", "news"), FilterFunc(func(m Memory) bool { return strings.HasPrefix(m.Content, "alpha") })), "m1"},
	{"FilterFunc sees decoded fields", FilterFunc(func(m Memory) bool {
		return m.Metadata["score"] == "1" && m.CreatedAt.Equal(day(0)) && len(m.Embedding) == 3 && m.Tier == Hot
	}), "m1"},
}

// withPostingsPay replaces the recall planner's choice between the postings and the graph.
func withPostingsPay(f func(est, n, ef int) bool) Option {
	return func(o *options) error { o.postingsPay = f; return nil }
}

// filterSpaces stores the fixture in spaces that answer filters by different plans: the
// exact index and the graph, each with the postings plan whenever it applies (flat,
// graph) and never (flat-scan, graph-search).
func filterSpaces(t *testing.T) map[string]*Space {
	s := openTemp(t, withPostingsPay(func(int, int, int) bool { return true }))
	never := openTemp(t, withPostingsPay(func(int, int, int) bool { return false }))
	out := map[string]*Space{
		"flat":         mustSpace(t, s, "flat", WithIndex(IndexFlat)),
		"graph":        mustSpace(t, s, "graph", WithIndex(IndexHNSW)),
		"flat-scan":    mustSpace(t, never, "flat", WithIndex(IndexFlat)),
		"graph-search": mustSpace(t, never, "graph", WithIndex(IndexHNSW)),
	}
	for _, sp := range out {
		mustStore(t, sp, filterFixture())
	}
	return out
}

// matchIDs recalls everything f matches (K beyond the space's size, any similarity).
func matchIDs(t *testing.T, sp *Space, q Query) string {
	t.Helper()
	q.Embedding = make([]float32, sp.Dim())
	q.Embedding[0] = 1
	q.K, q.MinSimilarity = 1000, -1
	hits, err := sp.Recall(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", sp.Name(), err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Memory.ID)
	}
	slices.Sort(ids)
	return strings.Join(ids, " ")
}

// TestFilterConstructors: every constructor and combination matches exactly its
// memories, whichever plan answers (postings, graph, exact scan) and in ForgetWhere.
func TestFilterConstructors(t *testing.T) {
	spaces := filterSpaces(t)
	for _, c := range filterCases {
		t.Run(c.name, func(t *testing.T) {
			for name, sp := range spaces {
				if got := matchIDs(t, sp, Query{Where: c.f}); got != c.want {
					t.Errorf("%s: matched %q, want %q", name, got, c.want)
				}
				if got := matchIDs(t, sp, Query{Where: c.f, Exact: true}); got != c.want {
					t.Errorf("%s exact: matched %q, want %q", name, got, c.want)
				}
			}
			// The view-level evaluation alone, and the text form's round trip.
			if _, err := compileFilter(c.f, nil, nil); err != nil {
				t.Fatal(err)
			}
			if _, isFunc := c.f.(FilterFunc); !isFunc && !strings.Contains(c.f.String(), "func") {
				back, err := ParseFilter(c.f.String())
				if err != nil {
					t.Fatalf("ParseFilter(%q): %v", c.f.String(), err)
				}
				if got := matchIDs(t, spaces["flat"], Query{Where: back}); got != c.want {
					t.Errorf("parsed %q matched %q, want %q", c.f.String(), got, c.want)
				}
			}
		})
	}
	// ForgetWhere forgets exactly the matches, in every space.
	for _, c := range filterCases {
		s := openTemp(t)
		sp := mustSpace(t, s, "f")
		mustStore(t, sp, filterFixture())
		n, err := sp.ForgetWhere(context.Background(), 3, c.f)
		if err != nil {
			t.Fatalf("%s: ForgetWhere: %v", c.name, err)
		}
		if want := len(strings.Fields(c.want)); n != want {
			t.Errorf("%s: ForgetWhere forgot %d, want %d", c.name, n, want)
		}
		var left []string
		for m, err := range sp.All(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			left = append(left, m.ID)
		}
		for _, id := range left {
			if slices.Contains(strings.Fields(c.want), id) {
				t.Errorf("%s: %s survived ForgetWhere", c.name, id)
			}
		}
		if len(left)+n != 8 {
			t.Errorf("%s: %d left after forgetting %d", c.name, len(left), n)
		}
		checkPostingsMatch(t, sp)
	}
}

// TestLegacyMetadataAndTagsAreAnAnd: Query.Metadata and Query.Tags keep their meaning and
// combine with Where.
func TestLegacyMetadataAndTagsAreAnAnd(t *testing.T) {
	sp := filterSpaces(t)["graph"]
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{Metadata: map[string]string{"cat": "news"}}, "m1 m2 m6"},
		{Query{Tags: []string{"a", "b"}}, "m2"},
		{Query{Metadata: map[string]string{"cat": "chat"}, Tags: []string{"c"}}, "m7"},
		{Query{Metadata: map[string]string{"cat": "news"}, Where: HasTag("a")}, "m1 m2"},
		{Query{Tags: []string{"a"}, Where: Not(Eq("cat", "news"))}, "m7"},
		{Query{Metadata: map[string]string{"cat": "news"}, MinConfidence: 0.5}, "m1 m2 m6"},
	} {
		if got := matchIDs(t, sp, c.q); got != c.want {
			t.Errorf("%+v: matched %q, want %q", c.q, got, c.want)
		}
	}
}

// TestInvalidFiltersAreInvalidQuery: a filter that cannot be evaluated fails the recall
// and ForgetWhere with INVALID_QUERY, and forgets nothing.
func TestInvalidFiltersAreInvalidQuery(t *testing.T) {
	sp := filterSpaces(t)["graph"]
	deep := Filter(HasTag("a"))
	for range MaxFilterDepth + 1 {
		deep = Not(deep)
	}
	for _, c := range []struct {
		name string
		f    Filter
	}{
		{"nil in And", And(HasTag("a"), nil)},
		{"nil in Or", Or(nil)},
		{"nil in Not", Not(nil)},
		{"nil deep inside", Or(HasTag("a"), And(Not(nil)))},
		{"empty In", In("cat")},
		{"empty Or", Or()},
		{"NaN lo", Range("score", math.NaN(), 1)},
		{"NaN hi", Range("score", 0, math.NaN())},
		{"lo > hi", Range("score", 2, 1)},
		{"from after to", CreatedBetween(day(2), day(1))},
		{"nil FilterFunc", FilterFunc(nil)},
		{"nil FilterFunc inside", And(HasTag("a"), FilterFunc(nil))},
		{"too deep", deep},
	} {
		_, err := sp.Recall(context.Background(), Query{Embedding: []float32{1, 0, 0}, K: 3, Where: c.f})
		if CodeOf(err) != CodeInvalidQuery {
			t.Errorf("%s: Recall err = %v, want INVALID_QUERY", c.name, err)
		}
		n, err := sp.ForgetWhere(context.Background(), 10, c.f)
		if CodeOf(err) != CodeInvalidQuery || n != 0 {
			t.Errorf("%s: ForgetWhere = %d, %v, want INVALID_QUERY", c.name, n, err)
		}
		if _, err := ParseFilter(c.f.String()); err == nil {
			t.Errorf("%s: its text %q parses", c.name, c.f.String())
		}
	}
	if _, err := sp.ForgetWhere(context.Background(), 10, nil); CodeOf(err) != CodeInvalidQuery {
		t.Errorf("ForgetWhere(nil) err = %v", err)
	}
	if sp.Len() != 8 {
		t.Fatalf("invalid filters forgot memories: %d left", sp.Len())
	}
	// The limit itself is fine.
	ok := Filter(HasTag("a"))
	for range MaxFilterDepth {
		ok = Not(ok)
	}
	if _, err := sp.Recall(context.Background(), Query{Embedding: []float32{1, 0, 0}, K: 3, Where: ok}); err != nil {
		t.Fatalf("depth %d: %v", MaxFilterDepth, err)
	}
}

// TestFilterAllocations: evaluating a filter on a record allocates nothing (a recall
// calls it for every candidate it examines), a FilterFunc aside.
func TestFilterAllocations(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "a")
	mustStore(t, sp, filterFixture())
	f, err := compileFilter(And(Or(Eq("cat", "news"), In("cat", "chat", "code")), Not(HasTag("z")),
		Range("score", 0, 10), CreatedBetween(day(0), day(400)), ContentContains("a")), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.view(func(tx *bolt.Tx) error {
		b, _ := sp.buckets(tx)
		k, v := b.recs.Cursor().First()
		view, err := codec.Parse(v)
		if err != nil {
			return err
		}
		if !f.match(&view, nil) {
			t.Errorf("record %x does not match", k)
		}
		if n := testing.AllocsPerRun(200, func() { f.match(&view, nil) }); n != 0 {
			t.Errorf("match allocates %v times", n)
		}
		for _, val := range []string{"abc", "1.5", "", "-", "NaN"} {
			b := []byte(val)
			if n := testing.AllocsPerRun(100, func() { parseNumber(b) }); n != 0 {
				t.Errorf("parseNumber(%q) allocates %v times", val, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkPostingsMatch fails the test if the space's postings differ from its records.
func checkPostingsMatch(t *testing.T, sp *Space) {
	t.Helper()
	err := sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		for _, p := range sp.verifyPostings(b, 10) {
			t.Errorf("%s: %s", sp.Name(), p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestParseNumber: the syntax check in front of ParseFloat turns away exactly what
// ParseFloat refuses (for the shapes metadata values take), so a Range means "what
// strconv.ParseFloat reads".
func TestParseNumber(t *testing.T) {
	for _, s := range []string{
		"0", "1", "-1", "+1", "1.5", ".5", "5.", "-.5e3", "1e10", "1E-3", "1e+06", "inf", "-Inf", "+INFINITY", "infinity",
		"NaN", "nan", "0x1p-2", "-0X1.8P1", "1e400", "-1e400", "", "-", "+", ".", "e5", "1e", "1e+", "abc", "1abc", "1.2.3",
		"1_000", "1__0", "_1", "1_", "1_e5", "0x", "0xg", " 1", "1 ", "--1", "in", "infinit", "١", "12345678901234567890123456789012345678901234567890",
	} {
		x, err := strconv.ParseFloat(s, 64)
		want := err == nil && !math.IsNaN(x)
		got, ok := parseNumber([]byte(s))
		if ok != want || (ok && got != x) {
			t.Errorf("parseNumber(%q) = %v, %v; ParseFloat says %v, %v", s, got, ok, x, err)
		}
	}
}
