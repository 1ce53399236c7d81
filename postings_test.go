package engram

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// TestPostingsFollowEveryWrite: the postings equal what the records say after each kind of
// write — remember, upsert with other metadata, patch of metadata and tags, forget,
// ForgetWhere, archive and migration (no change), restore — and after a reopen rebuilds
// them; a dropped space's postings are gone.
func TestPostingsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	// Migration runs in the background (the hot tier is tiny): moves change no postings.
	s, err := Open(path, WithMigrateInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.Space(ctx, "p", WithTiering(tier.Policy{HotCapacity: 4, BatchSize: 3}))
	if err != nil {
		t.Fatal(err)
	}
	var mems []Memory
	for i := range 20 {
		mems = append(mems, Memory{ID: "m" + itoa(i), Embedding: []float32{1, float32(i), 2},
			Metadata: map[string]string{"cat": "c" + itoa(i%3), "n": itoa(i)}, Tags: []string{"t" + itoa(i%4)}})
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"remember", func() error { _, err := sp.BatchRemember(ctx, mems); return err }},
		{"upsert", func() error {
			_, err := sp.BatchRemember(ctx, []Memory{{ID: "m1", Embedding: []float32{1, 1, 1}, Metadata: map[string]string{"cat": "other"}, Tags: []string{"new"}}})
			return err
		}},
		{"patch", func() error {
			_, err := sp.BatchUpdate(ctx, []Update{
				{ID: "m2", Patch: Patch{SetMetadata: map[string]string{"cat": "patched", "extra": "x"}, DeleteMetadata: []string{"n"}}},
				{ID: "m3", Patch: Patch{Tags: []string{}}},
				{ID: "m4", Patch: Patch{Tags: []string{"t9", "t0"}}},
				{ID: "m5", Patch: Patch{Confidence: Confidence(0.2)}},
			})
			return err
		}},
		{"forget", func() error { _, err := sp.Forget(ctx, "m6", "m7", "nope"); return err }},
		{"forget where", func() error { _, err := sp.ForgetWhere(ctx, 2, Eq("cat", "c0")); return err }},
		{"migrate", func() error { _, err := sp.Migrate(ctx); return err }},
		{"archive", func() error {
			_, err := sp.ArchiveWhere(ctx, 3, func(m Memory) bool { return m.Metadata["cat"] == "c1" })
			return err
		}},
		{"restore", func() error {
			_, err := sp.Restore(ctx, []Memory{{ID: "r", Embedding: []float32{2, 1, 1}, Metadata: map[string]string{"cat": "c2"}, Tier: Cold}})
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		t.Run(st.name, func(t *testing.T) { checkPostingsMatch(t, sp) })
	}
	want := sp.postings.stats()
	if want.Entries == 0 {
		t.Fatal("no postings")
	}
	s.Close()
	s, err = Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("p")
	checkPostingsMatch(t, sp)
	if got := sp.postings.stats(); got.Entries != want.Entries || got.Pairs != want.Pairs || got.Tags != want.Tags {
		t.Fatalf("after reopen %+v, before %+v", got, want)
	}
	if got := matchIDs(t, sp, Query{Where: Eq("cat", "patched"), Tiers: 7}); got != "m2" {
		t.Fatalf("patched metadata after reopen: %q", got)
	}
	if err := s.DropSpace(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if st := sp.postings.stats(); st.Entries != 0 || st.Pairs != 0 || st.Tags != 0 {
		t.Fatalf("dropped space keeps postings %+v", st)
	}
}

// TestFilterPlansAreCounted: a filter the postings can list is answered from them when
// that is cheaper, one they cannot list by the graph, an exact query from the postings
// when selective, else by the scan; SpaceStats counts each.
func TestFilterPlansAreCounted(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "p", WithIndex(IndexHNSW))
	rng := rand.New(rand.NewPCG(3, 4))
	var mems []Memory
	for i := range 3000 {
		cat := "common"
		if i%1000 == 0 {
			cat = "rare"
		}
		content := "hay"
		if i%1000 == 1 {
			content = "needle"
		}
		mems = append(mems, Memory{Embedding: randUnit(rng, 8), Content: content, Metadata: map[string]string{"cat": cat}})
	}
	for off := 0; off < len(mems); off += 1000 {
		mustStore(t, sp, mems[off:off+1000])
	}
	plans := func() map[string]uint64 { return sp.Stats().Filters.Plans }
	q := func(w Filter, exact bool) []Hit {
		t.Helper()
		cue := make([]float32, 8)
		cue[0] = 1
		hits, err := sp.Recall(context.Background(), Query{Embedding: cue, K: 5, MinSimilarity: -1, Where: w, Exact: exact})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 {
			t.Fatal("no hits")
		}
		return hits
	}
	before := plans()
	q(Eq("cat", "rare"), false)
	q(Eq("cat", "common"), false) // on a space this small, listing even 2,997 is cheaper
	q(Not(Eq("cat", "rare")), false)
	q(Eq("cat", "rare"), true)   // exact either way: the postings plan is exact
	q(Eq("cat", "common"), true) // too many to list: the exact scan
	// Estimated broad, found selective: the graph's results hold too few matches, so the
	// postings plan runs after all — or, for a filter they cannot list, the filtered
	// graph search (which, on a graph this small, settles without scanning).
	for _, f := range []Filter{And(Eq("cat", "common"), ContentContains("needle")), ContentContains("needle")} {
		if hits := q(f, false); len(hits) != 3 {
			t.Fatalf("%s: %d hits, want the 3 needles", f, len(hits))
		}
	}
	after := plans()
	for name, want := range map[string]uint64{"postings": 4, "graph": 1, "graph-filter": 1, "exact": 1, "scan": 0} {
		if after[name]-before[name] != want {
			t.Errorf("plan %s counted %d, want %d (%v → %v)", name, after[name]-before[name], want, before, after)
		}
	}
	st := sp.Stats().Filters.Postings
	if st.Keys != 1 || st.Pairs != 2 || st.Entries != 3000 || st.Bytes <= 0 {
		t.Errorf("posting stats %+v", st)
	}
}

// TestOpenTemp: a store in a fresh temporary file, removed on Close, usable as any other.
func TestOpenTemp(t *testing.T) {
	s, err := OpenTemp(WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("store file: %v", err)
	}
	if !s.Stats().NoSync {
		t.Fatal("OpenTemp store syncs")
	}
	sp := mustSpace(t, s, "x")
	mustStore(t, sp, []Memory{{Embedding: []float32{1, 2}}})
	other, err := OpenTemp()
	if err != nil {
		t.Fatal(err)
	}
	if other.Path() == path {
		t.Fatal("two OpenTemp stores share a file")
	}
	other.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("temporary directory left behind: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := OpenTemp(WithLockTimeout(-time.Second)); CodeOf(err) != CodeInvalidOption {
		t.Fatalf("bad option: %v", err)
	}
}

// TestCheckPostingsReportsDamage: a posting missing or extra is reported.
func TestCheckPostingsReportsDamage(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "c")
	mustStore(t, sp, filterFixture())
	check := func() SpaceCheck {
		var c SpaceCheck
		if err := s.view(func(tx *bolt.Tx) error {
			b, err := sp.buckets(tx)
			if err != nil {
				return err
			}
			sp.checkPostings(b, &c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := check(); c.ProblemCount != 0 {
		t.Fatalf("clean space: %v", c.Problems)
	}
	sp.postings.apply(nil, []postingDoc{{seq: 999, tags: []string{"a"}, meta: map[string]string{"cat": "news"}}}) // extra
	sp.postings.apply([]postingDoc{{seq: 1, tags: []string{"a"}}}, nil)                                           // missing
	c := check()
	if c.ProblemCount < 3 {
		t.Fatalf("damage not reported: %v", c.Problems)
	}
	joined := strings.Join(c.Problems, "\n")
	if !strings.Contains(joined, `"cat"="news"`) || !strings.Contains(joined, `tag "a"`) {
		t.Fatalf("problems: %v", c.Problems)
	}
	// Store.Check runs the same comparison (re-checked, as the damage persists).
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !strings.Contains(strings.Join(rep.Spaces[0].Problems, "\n"), `tag "a"`) {
		t.Fatalf("Store.Check missed the postings damage: %+v", rep.Spaces)
	}
}

// checkPostings adds to c the differences between the postings and the records of b, as
// seen in one read. Space.check goes through recheckPostings instead, which discounts a
// write committed but not yet applied (check.go).
func (sp *Space) checkPostings(b spaceTx, c *SpaceCheck) {
	for _, p := range sp.verifyPostings(b, maxProblems) {
		c.problem("%s", p)
	}
}
