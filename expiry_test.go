package engram

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// expiryMems are three memories: one expired a second ago, one expiring in an hour, and
// one without an expiry.
func expiryMems() []Memory {
	now := time.Now()
	return []Memory{
		{ID: "gone", Content: "gone", Embedding: []float32{1, 0, 0}, ExpiresAt: now.Add(-time.Second), Metadata: map[string]string{"k": "v"}, Tags: []string{"t"}},
		{ID: "later", Content: "later", Embedding: []float32{1, 0.1, 0}, ExpiresAt: now.Add(time.Hour), Metadata: map[string]string{"k": "v"}},
		{ID: "never", Content: "never", Embedding: []float32{1, 0, 0.1}, Metadata: map[string]string{"k": "v"}},
	}
}

func recallAll(t *testing.T, sp *Space, q Query) []string {
	t.Helper()
	q.Embedding, q.K, q.MinSimilarity = []float32{1, 0, 0}, 10, -1
	hits, err := sp.Recall(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Memory.ID)
	}
	return ids
}

// TestExpiredMemoriesAreInvisible: an expired memory is left out of every read at once —
// Recall by every plan and tier choice, Get, All, UpdateWhere's and ForgetWhere's scans,
// BatchUpdate — before anything removed it; Migrate then removes it and counts it.
func TestExpiredMemoriesAreInvisible(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithMigrateInterval(0))
	for i, kind := range []IndexKind{IndexFlat, IndexHNSW} {
		sp := mustSpace(t, s, "e"+itoa(i), WithIndex(kind))
		mustStore(t, sp, expiryMems())
		if sp.Len() != 3 {
			t.Fatalf("Len %d: an expired memory is stored until removed", sp.Len())
		}
		for name, q := range map[string]Query{
			"plain":         {},
			"exact":         {Exact: true},
			"filtered":      {Where: Eq("k", "v")},
			"tag":           {Tags: []string{"t"}},
			"all tiers":     {Tiers: 7},
			"confidence":    {MinConfidence: 0.1},
			"record filter": {Where: ContentContains("o")},
		} {
			ids := recallAll(t, sp, q)
			for _, id := range ids {
				if id == "gone" {
					t.Errorf("%s: recall returned the expired memory (%v)", name, ids)
				}
			}
			if name == "plain" && len(ids) != 2 {
				t.Errorf("plain recall: %v", ids)
			}
		}
		if _, err := sp.Get(ctx, "gone"); CodeOf(err) != CodeNotFound {
			t.Errorf("Get of an expired memory: %v", err)
		}
		m, err := sp.Get(ctx, "later")
		if err != nil || m.ExpiresAt.IsZero() || m.ExpiresAt.Before(time.Now()) {
			t.Errorf("Get later: %v %v", m.ExpiresAt, err)
		}
		n := 0
		for m, err := range sp.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			if m.ID == "gone" {
				t.Error("All yields the expired memory")
			}
			n++
		}
		if n != 2 {
			t.Errorf("All yields %d", n)
		}
		res, err := sp.BatchUpdate(ctx, []Update{{ID: "gone", Patch: Patch{Confidence: Confidence(0.5)}}})
		if err != nil || CodeOf(res.Items[0].Err) != CodeNotFound {
			t.Errorf("BatchUpdate of an expired memory: %v %v", res.Items[0].Err, err)
		}
		var seen []string // ForgetWhere's scan: a predicate that records and keeps everything
		keep := FilterFunc(func(m Memory) bool { seen = append(seen, m.ID); return false })
		for _, f := range []Filter{keep, And(Eq("k", "v"), keep)} { // scanned, and listed by the postings
			seen = nil
			if n, err := sp.ForgetWhere(ctx, 10, f); err != nil || n != 0 || len(seen) != 2 {
				t.Errorf("ForgetWhere(%s) saw %v (forgot %d, %v)", f, seen, n, err)
			}
		}
		st, err := sp.Migrate(ctx)
		if err != nil || st.Expired != 1 {
			t.Fatalf("Migrate: %+v %v", st, err)
		}
		if sp.Stats().Expired != 1 || sp.Len() != 2 {
			t.Fatalf("after Migrate: Expired %d, Len %d", sp.Stats().Expired, sp.Len())
		}
		checkPostingsMatch(t, sp)
	}
}

// TestExpiryRemovalKeepsLiveMemories: removal takes exactly the expired memories, in
// batches, and the memories forgotten or replaced meanwhile are skipped.
func TestExpiryRemovalKeepsLiveMemories(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithMigrateInterval(0))
	sp := mustSpace(t, s, "e")
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	var mems []Memory
	for i := range 2500 {
		m := Memory{ID: "m" + itoa(i), Embedding: []float32{1, float32(i), 1}, Metadata: map[string]string{"i": itoa(i % 7)}}
		if i%2 == 0 {
			m.ExpiresAt = past
		} else if i%3 == 0 {
			m.ExpiresAt = future
		}
		mems = append(mems, m)
	}
	mustStore(t, sp, mems)
	// Forget some expired ones and replace others with live versions before the removal.
	if _, err := sp.Forget(ctx, "m0", "m2"); err != nil {
		t.Fatal(err)
	}
	mustStore(t, sp, []Memory{{ID: "m4", Embedding: []float32{1, 4, 1}}})
	st, err := sp.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1250 - 3; st.Expired != want {
		t.Fatalf("removed %d, want %d", st.Expired, want)
	}
	if sp.Len() != 1250+1 {
		t.Fatalf("Len %d", sp.Len())
	}
	if _, err := sp.Get(ctx, "m4"); err != nil {
		t.Fatalf("replaced memory: %v", err)
	}
	if st, _ := sp.Migrate(ctx); st.Expired != 0 {
		t.Fatalf("second cycle removed %d", st.Expired)
	}
	checkPostingsMatch(t, sp)
}

// TestExpiryBackgroundRemoval: the background migrator removes expired memories of a
// space without tiering.
func TestExpiryBackgroundRemoval(t *testing.T) {
	s := openTemp(t, WithMigrateInterval(10*time.Millisecond))
	sp := mustSpace(t, s, "e")
	mustStore(t, sp, []Memory{{Embedding: []float32{1, 0}, ExpiresAt: time.Now().Add(50 * time.Millisecond)}, {Embedding: []float32{0, 1}}})
	deadline := time.Now().Add(10 * time.Second)
	for sp.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not removed: Len %d, Expired %d", sp.Len(), sp.Stats().Expired)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sp.Stats().Expired != 1 {
		t.Fatalf("Expired %d", sp.Stats().Expired)
	}
}

// TestTTL: WithTTL gives memories without an ExpiresAt one, TTL after the write; a given
// ExpiresAt wins; the option is stored with the space and must match on reopen; a
// patch changes or removes the expiry.
func TestTTL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ttl.db")
	s, err := Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.Space(ctx, "t", WithTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	given := before.Add(5 * time.Minute).Truncate(time.Millisecond)
	mustStore(t, sp, []Memory{{ID: "d", Embedding: []float32{1, 0}}, {ID: "g", Embedding: []float32{0, 1}, ExpiresAt: given}})
	d, _ := sp.Get(ctx, "d")
	if d.ExpiresAt.Before(before.Add(time.Hour)) || d.ExpiresAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("default expiry %v, written at %v", d.ExpiresAt, before)
	}
	if g, _ := sp.Get(ctx, "g"); !g.ExpiresAt.Equal(given) {
		t.Fatalf("given expiry %v, want %v", g.ExpiresAt, given)
	}
	if st := sp.Stats(); st.TTL != time.Hour || st.TTLRefresh {
		t.Fatalf("Stats TTL %v refresh %v", st.TTL, st.TTLRefresh)
	}
	// Patch: remove the expiry of d, move g's into the past.
	res, err := sp.BatchUpdate(ctx, []Update{{ID: "d", Patch: Patch{ExpiresAt: &time.Time{}}}, {ID: "g", Patch: Patch{ExpiresAt: new(time.Now().Add(-time.Second))}}})
	if err != nil || res.Failed != 0 {
		t.Fatalf("patch: %v %v", res.Err(), err)
	}
	if d, _ := sp.Get(ctx, "d"); !d.ExpiresAt.IsZero() {
		t.Fatalf("patched-away expiry: %v", d.ExpiresAt)
	}
	if _, err := sp.Get(ctx, "g"); CodeOf(err) != CodeNotFound {
		t.Fatalf("expired by patch: %v", err)
	}
	if st, _ := sp.Migrate(ctx); st.Expired != 1 {
		t.Fatalf("Migrate removed %d", st.Expired)
	}
	s.Close()

	s, err = Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Space(ctx, "t", WithTTL(time.Minute)); CodeOf(err) != CodeInvalidOption {
		t.Fatalf("other TTL on reopen: %v", err)
	}
	if _, err := s.Space(ctx, "t", WithTTLRefresh()); CodeOf(err) != CodeInvalidOption {
		t.Fatalf("refresh on reopen: %v", err)
	}
	sp, err = s.Space(ctx, "t", WithTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if sp.Len() != 1 {
		t.Fatalf("Len after reopen %d", sp.Len())
	}
	for _, bad := range []SpaceOption{WithTTL(0), WithTTL(-time.Second)} {
		if _, err := s.Space(ctx, "bad", bad); CodeOf(err) != CodeInvalidOption {
			t.Fatalf("bad TTL: %v", err)
		}
	}
	if _, err := s.Space(ctx, "bad", WithTTLRefresh()); CodeOf(err) != CodeInvalidOption {
		t.Fatalf("refresh without TTL: %v", err)
	}
	res2, _ := sp.BatchRemember(ctx, []Memory{{Embedding: []float32{1, 1}, ExpiresAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}})
	if CodeOf(res2.Items[0].Err) != CodeInvalidTimestamp {
		t.Fatalf("ExpiresAt in 3000: %v", res2.Items[0].Err)
	}
}

// TestTTLRefresh: under WithTTLRefresh a recall extends the expiry of what it returns to
// now + TTL (Get does not), the extension keeps an about-to-expire memory alive, and it
// survives a reopen through the flushed access statistics.
func TestTTLRefresh(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refresh.db")
	s, err := Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.Space(ctx, "r", WithTTL(time.Hour), WithTTLRefresh())
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(400 * time.Millisecond)
	mustStore(t, sp, []Memory{
		{ID: "used", Embedding: []float32{1, 0}, ExpiresAt: soon},
		{ID: "idle", Embedding: []float32{0, 1}, ExpiresAt: soon},
	})
	start := time.Now()
	hits, err := sp.Recall(ctx, Query{Embedding: []float32{1, 0}, K: 1})
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != "used" {
		t.Fatalf("recall: %v %v", hits, err)
	}
	if exp := hits[0].Memory.ExpiresAt; exp.Before(start.Add(time.Hour)) {
		t.Fatalf("the hit's expiry %v was not extended past %v", exp, start.Add(time.Hour))
	}
	if g, _ := sp.Get(ctx, "used"); g.ExpiresAt.Before(start.Add(time.Hour)) {
		t.Fatalf("Get shows %v", g.ExpiresAt)
	}
	if g, _ := sp.Get(ctx, "idle"); !g.ExpiresAt.Equal(soon) {
		t.Fatalf("idle memory's expiry moved: %v, was %v", g.ExpiresAt, soon)
	}
	time.Sleep(time.Until(soon) + 50*time.Millisecond)
	if _, err := sp.Get(ctx, "used"); err != nil {
		t.Fatalf("refreshed memory expired: %v", err)
	}
	if _, err := sp.Get(ctx, "idle"); CodeOf(err) != CodeNotFound {
		t.Fatalf("idle memory: %v", err)
	}
	if st, _ := sp.Migrate(ctx); st.Expired != 1 {
		t.Fatalf("Migrate removed %d, want the idle one", st.Expired)
	}
	s.Close() // flushes the access statistics

	s, err = Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("r")
	g, err := sp.Get(ctx, "used")
	if err != nil || g.ExpiresAt.Before(start.Add(time.Hour)) {
		t.Fatalf("after reopen: %v %v", g.ExpiresAt, err)
	}
	if st, _ := sp.Migrate(ctx); st.Expired != 0 || sp.Len() != 1 {
		t.Fatalf("after reopen Migrate removed %d, Len %d", st.Expired, sp.Len())
	}
}

// TestExpirySurvivesReopenAndRestore: the expiry is in the record (v2): reopen keeps it
// and schedules it, Restore of an export keeps it.
func TestExpirySurvivesReopenAndRestore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	s, err := Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := s.Space(ctx, "x")
	at := time.Now().Add(300 * time.Millisecond).Truncate(time.Microsecond)
	mustStore(t, sp, []Memory{{ID: "a", Embedding: []float32{1, 0}, ExpiresAt: at}, {ID: "b", Embedding: []float32{0, 1}}})
	var exported []Memory
	for m, err := range sp.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		exported = append(exported, m)
	}
	s.Close()
	s, err = Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("x")
	if a, err := sp.Get(ctx, "a"); err != nil || !a.ExpiresAt.Equal(at) {
		t.Fatalf("after reopen: %v %v", a.ExpiresAt, err)
	}
	other, _ := s.Space(ctx, "y")
	if res, err := other.Restore(ctx, exported); err != nil || res.Failed != 0 {
		t.Fatalf("restore: %v %v", res.Err(), err)
	}
	if a, err := other.Get(ctx, "a"); err != nil || !a.ExpiresAt.Equal(at) {
		t.Fatalf("after restore: %v %v", a.ExpiresAt, err)
	}
	time.Sleep(time.Until(at) + 20*time.Millisecond)
	for _, sp := range []*Space{sp, other} {
		if st, err := sp.Migrate(ctx); err != nil || st.Expired != 1 || sp.Len() != 1 {
			t.Fatalf("%s: Migrate %+v %v, Len %d", sp.Name(), st, err, sp.Len())
		}
	}
}
