package engram

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// tiered opens a store without background migration and a space with a hot capacity.
func tiered(t *testing.T, p tier.Policy, opts ...SpaceOption) (*Store, *Space) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, mustSpace(t, s, "t", append([]SpaceOption{WithTiering(p), WithDimension(8)}, opts...)...)
}

func tierOfID(t *testing.T, sp *Space, id string) Tier {
	t.Helper()
	m, err := sp.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m.Tier
}

func mustCheck(t *testing.T, s *Store) {
	t.Helper()
	rep, err := s.Check(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("check: %v %+v", err, rep)
	}
}

// TestDemotionFollowsActivation: over the high watermark, migration demotes the
// lowest-activation memories (low confidence, never recalled) down to the low watermark;
// recalled and confident ones stay hot.
func TestDemotionFollowsActivation(t *testing.T) {
	ctx := context.Background()
	s, sp := tiered(t, tier.Policy{HotCapacity: 100, BatchSize: 7})
	r := rand.New(rand.NewPCG(1, 1))
	var mems []Memory
	for i := 0; i < 100; i++ {
		conf := float32(0.9)
		if i%2 == 1 {
			conf = 0.1 // half are doubtful
		}
		mems = append(mems, Memory{ID: fmt.Sprintf("m%03d", i), Embedding: randUnit(r, 8), Confidence: Confidence(conf)})
	}
	mustStore(t, sp, mems)
	// Recall some doubtful ones often: use outweighs their confidence.
	for i := 1; i < 20; i += 2 {
		for j := 0; j < 15; j++ {
			sp.Recall(ctx, Query{Embedding: mems[i].Embedding, K: 1})
		}
	}
	mustStore(t, sp, synthetic(r, 20, 8, "late")) // 120 hot: over the high watermark (100)
	st, err := sp.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Demoted != 30 || sp.Stats().Tiers != [3]int64{90, 30, 0} {
		t.Fatalf("migration: %+v, tiers %v (want 30 demoted to the low watermark of 90)", st, sp.Stats().Tiers)
	}
	for i, m := range mems {
		got := tierOfID(t, sp, m.ID)
		switch {
		case i%2 == 0 && got != Hot:
			t.Errorf("%s (confidence 0.9) was demoted", m.ID)
		case i%2 == 1 && i < 20 && got != Hot:
			t.Errorf("%s (recalled 15 times) was demoted", m.ID)
		}
	}
	mustCheck(t, s)
	if st, _ := sp.Migrate(ctx); st.Demoted != 0 {
		t.Fatalf("a second cycle demoted %d below the high watermark", st.Demoted)
	}
}

// TestDefaultRecallMergesHotAndWarm: default recall searches hot and warm together — the
// warm memory that matches best is found even when hot has plenty of hits, filters apply
// to both — a hot-only query stays hot, and a recalled warm memory is promoted at the next
// cycle.
func TestDefaultRecallMergesHotAndWarm(t *testing.T) {
	ctx := context.Background()
	s, sp := tiered(t, tier.Policy{HotCapacity: 20})
	r := rand.New(rand.NewPCG(2, 2))
	old := synthetic(r, 30, 8, "old")
	for i := range old {
		old[i].Confidence = Confidence(0.05)
		old[i].Tags = []string{"archive-me"}
	}
	mustStore(t, sp, old)
	if _, err := sp.Migrate(ctx); err != nil { // over capacity: writes would wait (Block)
		t.Fatal(err)
	}
	mustStore(t, sp, synthetic(r, 30, 8, "new"))
	if _, err := sp.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	warmID := ""
	for _, m := range old {
		if tierOfID(t, sp, m.ID) == Warm {
			warmID = m.ID
			break
		}
	}
	if warmID == "" {
		t.Fatal("no doubtful memory was demoted")
	}
	w, _ := sp.Get(ctx, warmID)
	// Default recall: the warm memory is the best match among plenty of hot hits.
	hits, err := sp.Recall(ctx, Query{Embedding: w.Embedding, K: 3, MinSimilarity: -1, SimilarityOnly: true})
	if err != nil || len(hits) != 3 || hits[0].Memory.ID != warmID || hits[0].Memory.Tier != Warm || hits[0].Similarity < 0.9999 {
		t.Fatalf("default recall: %+v %v", hits, err)
	}
	// Filters apply across both tiers.
	hits, err = sp.Recall(ctx, Query{Embedding: w.Embedding, K: 2, Tags: []string{"archive-me"}, MinSimilarity: -1})
	if err != nil || len(hits) != 2 || hits[0].Memory.ID != warmID {
		t.Fatalf("filtered default recall: %+v %v", hits, err)
	}
	for _, h := range hits {
		if !slices.Contains(h.Memory.Tags, "archive-me") {
			t.Fatalf("filter not applied: %+v", h.Memory)
		}
	}
	// A hot-only query does not look at warm.
	hits, _ = sp.Recall(ctx, Query{Embedding: w.Embedding, K: 3, MinSimilarity: -1, Tiers: tier.Of(tier.Hot)})
	for _, h := range hits {
		if h.Memory.Tier != Hot {
			t.Fatalf("hot-only recall returned %s from %v", h.Memory.ID, h.Memory.Tier)
		}
	}
	if st, _ := sp.Migrate(ctx); st.Promoted < 1 || tierOfID(t, sp, warmID) != Hot {
		t.Fatalf("recalled warm memory not promoted: %+v, tier %v", st, tierOfID(t, sp, warmID))
	}
	mustCheck(t, s)
}

// TestColdExcludedUnlessAsked: archived memories stay out of default recall, are found when
// the query names cold, and are always readable by Get.
func TestColdExcludedUnlessAsked(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "a") // Archive works without tiering too
	r := rand.New(rand.NewPCG(3, 3))
	hot := synthetic(r, 20, 8, "hot")
	cold := synthetic(r, 20, 8, "cold")
	mustStore(t, sp, hot)
	res, err := sp.Archive(ctx, cold)
	if err != nil || res.Stored != 20 {
		t.Fatalf("archive: %v %v", err, res.Err())
	}
	if sp.Stats().Tiers != [3]int64{20, 0, 20} {
		t.Fatalf("tiers %v", sp.Stats().Tiers)
	}
	for _, m := range cold {
		hits, _ := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 40, MinSimilarity: -1})
		for _, h := range hits {
			if h.Memory.Tier == Cold {
				t.Fatalf("default recall returned cold %s", h.Memory.ID)
			}
		}
		hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Tiers: tier.Of(tier.Cold)})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID || hits[0].Memory.Tier != Cold {
			t.Fatalf("cold recall of %s: %+v %v", m.ID, hits, err)
		}
		if g, err := sp.Get(ctx, m.ID); err != nil || g.Tier != Cold {
			t.Fatalf("Get(%s): %v %v", m.ID, g.Tier, err)
		}
	}
	all, _ := sp.Recall(ctx, Query{Embedding: cold[0].Embedding, K: 40, Tiers: tier.All, MinSimilarity: -1})
	if len(all) != 40 {
		t.Fatalf("recall over every tier: %d hits", len(all))
	}
	mustCheck(t, s)
}

// TestArchiveWhereAndWarmIdle: archive by predicate (older than a date) and aging of idle
// warm memories into cold.
func TestArchiveWhereAndWarmIdle(t *testing.T) {
	ctx := context.Background()
	s, sp := tiered(t, tier.Policy{HotCapacity: 10, WarmIdle: time.Hour})
	r := rand.New(rand.NewPCG(4, 4))
	mems := synthetic(r, 30, 8, "x") // CreatedAt in 2023: long idle
	for i := range mems[:10] {
		mems[i].CreatedAt = time.Now()
	}
	mustStore(t, sp, mems)
	cut := time.Date(2023, 11, 14, 22, 13, 40, 0, time.UTC) // synthetic i → 1_700_000_000+i s
	n, err := sp.ArchiveWhere(ctx, 4, func(m Memory) bool { return m.CreatedAt.Before(cut) })
	if err != nil || n == 0 {
		t.Fatalf("ArchiveWhere: %d %v", n, err)
	}
	for _, m := range mems[10:] {
		if want := m.CreatedAt.Before(cut); (tierOfID(t, sp, m.ID) == Cold) != want {
			t.Fatalf("%s created %v: tier %v", m.ID, m.CreatedAt, tierOfID(t, sp, m.ID))
		}
	}
	// The rest (10 fresh, 10 from 2023) is over capacity: the 2023 ones have the lowest
	// activation, are demoted first, and, idle since 2023, go on to cold; the fresh ones
	// demoted to reach the low watermark stay warm.
	st, err := sp.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Demoted != 11 || st.Cooled != 10 {
		t.Fatalf("cycle: %+v, want 11 demoted (20 hot down to 9) and the 10 idle ones cooled", st)
	}
	if tiers := sp.Stats().Tiers; tiers != [3]int64{9, 1, 20} {
		t.Fatalf("tiers after aging: %v", tiers)
	}
	mustCheck(t, s)
}

// TestHotBackpressure: over capacity with migration off, writes fail fast with a retryable
// BACKPRESSURE and a retry hint, or block until ctx ends; migration makes room.
func TestHotBackpressure(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	_, ff := tiered(t, tier.Policy{HotCapacity: 10, Backpressure: tier.FailFast})
	mustStore(t, ff, synthetic(r, 11, 8, "a"))
	_, err := ff.Remember(ctx, Memory{Embedding: randUnit(r, 8)})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBackpressure || !e.Retryable() || e.RetryAfter <= 0 {
		t.Fatalf("fail fast: %v", err)
	}
	if st := ff.Stats(); st.Tiering.State != tier.Overloaded || st.Queue.State != tier.Overloaded || st.Queue.Rejected == 0 {
		t.Fatalf("state: %+v %+v", st.Tiering, st.Queue)
	}
	if _, err := ff.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ff.Remember(ctx, Memory{Embedding: randUnit(r, 8)}); err != nil {
		t.Fatalf("after migration: %v", err)
	}

	_, blk := tiered(t, tier.Policy{HotCapacity: 10, Backpressure: tier.Block})
	mustStore(t, blk, synthetic(r, 11, 8, "b"))
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := blk.Remember(short, Memory{Embedding: randUnit(r, 8)}); !errors.Is(err, ErrDeadlineExceeded) || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("block: %v after %v", err, time.Since(start))
	}
	done := make(chan error, 1)
	go func() { _, err := blk.Remember(ctx, Memory{ID: "waited", Embedding: randUnit(r, 8)}); done <- err }()
	time.Sleep(50 * time.Millisecond)
	blk.Migrate(ctx)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked write was not released by migration")
	}
}

// TestMigrationFailureLeavesOneTier: a commit failing in the middle of a migration leaves
// every memory in exactly one tier, on disk and in memory, before and after reopening.
func TestMigrationFailureLeavesOneTier(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s := openHooked(t, path, WithMigrateInterval(0))
	sp := mustSpace(t, s, "t", WithTiering(tier.Policy{HotCapacity: 50, BatchSize: 5}), WithIndex(IndexHNSW))
	r := rand.New(rand.NewPCG(6, 6))
	mems := synthetic(r, 80, 8, "m")
	mustStore(t, sp, mems)
	n := 0
	setCommitHook(s, func(int) error {
		if n++; n == 3 {
			return errors.New("injected: disk full")
		}
		return nil
	})
	st, err := sp.Migrate(ctx)
	setCommitHook(s, nil)
	if !errors.Is(err, ErrStorage) || st.Demoted != 10 {
		t.Fatalf("migration with a failing third batch: %+v %v", st, err)
	}
	count := func(s *Store) [3]int64 {
		sp, _ := s.LookupSpace("t")
		var c [3]int64
		for m, err := range sp.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			c[m.Tier]++
		}
		if st := sp.Stats(); st.Tiers != c || c[0]+c[1]+c[2] != 80 {
			t.Fatalf("records say %v, counters %v", c, st.Tiers)
		}
		return c
	}
	before := count(s)
	if before != [3]int64{70, 10, 0} {
		t.Fatalf("tiers after the failure: %v", before)
	}
	mustCheck(t, s)
	s.Close()
	s, err = Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := count(s); after != before {
		t.Fatalf("tiers changed across reopen: %v → %v", before, after)
	}
	mustCheck(t, s)
	sp, _ = s.LookupSpace("t")
	if st, err := sp.Migrate(ctx); err != nil || st.Demoted != 25 {
		t.Fatalf("next cycle after reopen: %+v %v", st, err)
	}
	// Every memory is recallable by its own vector, across hot and warm.
	for _, m := range mems {
		hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Tiers: tier.Of(tier.Hot, tier.Warm), SimilarityOnly: true})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID {
			g, _ := sp.Get(ctx, m.ID)
			t.Fatalf("%s (%v, warm index %d) not recalled after reopen: %+v %v", m.ID, g.Tier, sp.warmIndex().Len(), hits, err)
		}
	}
}

// TestConfidenceDecay: decayed confidence follows the formula and only affects scores.
func TestConfidenceDecay(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "d", WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: time.Hour, Floor: 0.05}), WithConfidenceWeight(1))
	created := time.Now().Add(-2 * time.Hour)
	mustStore(t, sp, []Memory{{ID: "old", Embedding: unit(1, 0), Confidence: Confidence(0.8), CreatedAt: created}})
	hits, _ := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1})
	want := 0.8 * math.Exp2(-time.Since(created).Hours())
	if h := hits[0]; math.Abs(float64(h.Confidence)-want) > 1e-3 || *h.Memory.Confidence != 0.8 || math.Abs(float64(h.Score-h.Confidence)) > 1e-6 {
		t.Fatalf("decayed %v, want %v; stored %v; score %v", h.Confidence, want, *h.Memory.Confidence, h.Score)
	}
	// Just recalled: next time the idle time is ~0, so the confidence is back to stored.
	hits, _ = sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1})
	if math.Abs(float64(hits[0].Confidence)-0.8) > 1e-3 {
		t.Fatalf("after an access: %v", hits[0].Confidence)
	}
	// Nothing was rewritten: the stored confidence is unchanged.
	if m, _ := sp.Get(ctx, "old"); m.Conf() != 0.8 {
		t.Fatalf("stored confidence changed: %v", m.Conf())
	}
	for _, bad := range []tier.Decay{{}, {Kind: 9}, {Kind: tier.Exponential, Floor: 2}} {
		if _, err := s.Space(ctx, "bad", WithDecay(bad)); CodeOf(err) != CodeInvalidOption {
			t.Fatalf("WithDecay(%+v): %v", bad, err)
		}
	}
}

// TestTieredRecallOnSyntheticData: recall@10 over hot and warm against brute force over
// both stays ≥ 0.95, and queries whose answers are hot lose nothing to tiering.
func TestTieredRecallOnSyntheticData(t *testing.T) {
	ctx := context.Background()
	s, sp := tiered(t, tier.Policy{HotCapacity: 500}, WithIndex(IndexHNSW))
	_ = s
	r := rand.New(rand.NewPCG(7, 7))
	mems := synthetic(r, 2000, 8, "s")
	for off := 0; off < len(mems); off += 250 {
		mustStore(t, sp, mems[off:off+250])
		sp.Migrate(ctx)
	}
	if tiers := sp.Stats().Tiers; tiers[Hot] > 500 || tiers[Warm] < 1400 {
		t.Fatalf("tiers %v", tiers)
	}
	var hit, total int
	for i := 0; i < 100; i++ {
		q := randUnit(r, 8)
		exact, _ := sp.Recall(ctx, Query{Embedding: q, K: 10, Exact: true, Tiers: tier.Of(tier.Hot, tier.Warm), MinSimilarity: -1, SimilarityOnly: true})
		got, _ := sp.Recall(ctx, Query{Embedding: q, K: 10, Tiers: tier.Of(tier.Hot, tier.Warm), MinSimilarity: -1, SimilarityOnly: true})
		kth := exact[len(exact)-1].Similarity
		for _, h := range got {
			if h.Similarity >= kth-1e-6 {
				hit++
			}
		}
		total += len(exact)
	}
	if rec := float64(hit) / float64(total); rec < 0.95 {
		t.Fatalf("recall@10 over hot+warm: %.3f", rec)
	}
	_ = slices.Max([]int{1})
}

// TestPromotionPolicy: Get promotes only under PromoteOnGet, recall not under PromoteNever,
// and the policy survives a reopen.
func TestPromotionPolicy(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		promote         tier.Promotion
		byRecall, byGet bool
	}{
		{"default", 0, true, false},
		{"get", tier.PromoteOnGet, false, true},
		{"both", tier.PromoteOnRecall | tier.PromoteOnGet, true, true},
		{"never", tier.PromoteNever | tier.PromoteOnRecall, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.db")
			s, err := Open(path, WithMigrateInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Space(ctx, "p", WithDimension(8), WithTiering(tier.Policy{HotCapacity: 10, Promote: tc.promote})); err != nil {
				t.Fatal(err)
			}
			s.Close() // the policy is read back from the file
			if s, err = Open(path, WithMigrateInterval(0)); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sp, _ := s.LookupSpace("p")
			r := rand.New(rand.NewPCG(9, 9))
			mems := synthetic(r, 20, 8, "m")
			mustStore(t, sp, mems)
			if st, _ := sp.Migrate(ctx); st.Demoted != 11 { // 20 → low watermark 9
				t.Fatalf("demoted %d", st.Demoted)
			}
			tiers := func() map[string]Tier { // by scan: Get itself may promote
				m := map[string]Tier{}
				for mem, err := range sp.All(ctx) {
					if err != nil {
						t.Fatal(err)
					}
					m[mem.ID] = mem.Tier
				}
				return m
			}
			var warm []Memory
			before := tiers()
			for _, m := range mems {
				if before[m.ID] == Warm {
					warm = append(warm, m)
				}
			}
			hits, err := sp.Recall(ctx, Query{Embedding: warm[0].Embedding, K: 1, Tiers: tier.Of(tier.Warm)})
			if err != nil || len(hits) != 1 || hits[0].Memory.ID != warm[0].ID {
				t.Fatalf("warm recall: %+v %v", hits, err)
			}
			if _, err := sp.Get(ctx, warm[1].ID); err != nil {
				t.Fatal(err)
			}
			st, _ := sp.Migrate(ctx)
			after := tiers()
			if got := after[warm[0].ID] == Hot; got != tc.byRecall {
				t.Errorf("recalled warm memory promoted = %v, want %v", got, tc.byRecall)
			}
			if got := after[warm[1].ID] == Hot; got != tc.byGet {
				t.Errorf("fetched warm memory promoted = %v, want %v", got, tc.byGet)
			}
			if want := btoi(tc.byRecall) + btoi(tc.byGet); st.Promoted != want {
				t.Errorf("promoted %d, want %d", st.Promoted, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestWarmRecallKeepsNearest: the warm tier's candidates are cut to the K most similar
// before scores order them, as for hot: a closer, doubtful memory is not displaced by a
// farther, surer one.
func TestWarmRecallKeepsNearest(t *testing.T) {
	ctx := context.Background()
	_, sp := tiered(t, tier.Policy{HotCapacity: 4}, WithConfidenceWeight(1))
	r := rand.New(rand.NewPCG(4, 4))
	fill := synthetic(r, 4, 8, "fill")
	for i := range fill {
		fill[i].Confidence, fill[i].CreatedAt = Confidence(0.9), time.Time{} // as fresh as near and far
	}
	near := unit(1, 0, 0, 0, 0, 0, 0, 0)
	far := unit(0.9, 0.44, 0, 0, 0, 0, 0, 0) // cosine ≈ 0.9 to near
	mustStore(t, sp, append(fill,
		Memory{ID: "near", Embedding: near, Confidence: Confidence(0.05)},
		Memory{ID: "far", Embedding: far, Confidence: Confidence(0.1)}))
	if _, err := sp.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if tierOfID(t, sp, "near") != Warm || tierOfID(t, sp, "far") != Warm {
		t.Fatalf("setup: near and far should be warm: %v %v, tiers %v", tierOfID(t, sp, "near"), tierOfID(t, sp, "far"), sp.Stats().Tiers)
	}
	for _, ts := range []tier.Set{tier.Of(tier.Warm), tier.Of(tier.Hot, tier.Warm)} {
		hits, err := sp.Recall(ctx, Query{Embedding: near, K: 1, Tiers: ts})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != "near" {
			t.Fatalf("tiers %v: %+v %v, want near (the most similar)", ts, hits, err)
		}
	}
}

// TestArchiveWhereWithoutTiering: ArchiveWhere works on a plain space (as Archive does):
// the moved memories leave the index and default recall, and stay readable.
func TestArchiveWhereWithoutTiering(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "plain")
	r := rand.New(rand.NewPCG(6, 6))
	mems := synthetic(r, 20, 8, "p")
	mustStore(t, sp, mems)
	n, err := sp.ArchiveWhere(ctx, 3, func(m Memory) bool { return m.ID < mems[10].ID })
	if err != nil || n != 10 {
		t.Fatalf("ArchiveWhere: %d %v", n, err)
	}
	if st := sp.Stats(); st.Tiers != [3]int64{10, 0, 10} || st.IndexLen != 10 {
		t.Fatalf("tiers %v, index %d", st.Tiers, st.IndexLen)
	}
	for _, m := range mems[:10] {
		hits, _ := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 20, MinSimilarity: -1})
		for _, h := range hits {
			if h.Memory.ID == m.ID {
				t.Fatalf("archived %s returned by default recall", m.ID)
			}
		}
		if g, err := sp.Get(ctx, m.ID); err != nil || g.Tier != Cold {
			t.Fatalf("Get(%s): %v %v", m.ID, g.Tier, err)
		}
	}
	mustCheck(t, s)
	s.Close()
	if _, err := sp.ArchiveWhere(ctx, 0, func(Memory) bool { return true }); CodeOf(err) != CodeClosed {
		t.Fatalf("after Close: %v", err)
	} else if e := (*Error)(nil); errors.As(err, &e) && e.Op != OpArchive {
		t.Fatalf("error op %v, want archive", e.Op)
	}
}

// TestTieringOptionsMustAgree: reopening a space with a different tier policy or decay
// fails with INVALID_OPTION (as other options do); the same ones are accepted.
func TestTieringOptionsMustAgree(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	p := tier.Policy{HotCapacity: 50, WarmIdle: time.Hour}
	d := tier.Decay{Kind: tier.PowerLaw}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Space(ctx, "o", WithTiering(p), WithDecay(d)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Space(ctx, "o", WithTiering(p), WithDecay(d)); err != nil {
		t.Fatalf("same options after reopen: %v", err)
	}
	if _, err := s.Space(ctx, "o"); err != nil {
		t.Fatalf("no options: %v", err)
	}
	for name, opt := range map[string]SpaceOption{
		"capacity": WithTiering(tier.Policy{HotCapacity: 60, WarmIdle: time.Hour}),
		"idle":     WithTiering(tier.Policy{HotCapacity: 50}),
		"decay":    WithDecay(tier.Decay{Kind: tier.Exponential}),
	} {
		if _, err := s.Space(ctx, "o", opt); CodeOf(err) != CodeInvalidOption {
			t.Errorf("%s: %v, want INVALID_OPTION", name, err)
		}
	}
}

// TestTierOptionValidation: out-of-range policies and decays are refused; sub-second
// durations round up to a second instead of turning into "never" or the default.
func TestTierOptionValidation(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for name, opt := range map[string]SpaceOption{
		"negative idle":      WithTiering(tier.Policy{HotCapacity: 10, WarmIdle: -time.Second}),
		"negative half-life": WithTiering(tier.Policy{HotCapacity: 10, ActivationHalfLife: -1}),
		"capacity > 2^31":    WithTiering(tier.Policy{HotCapacity: 1 << 32}),
		"negative decay":     WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: -time.Hour}),
		"nan exponent":       WithDecay(tier.Decay{Kind: tier.PowerLaw, Exponent: math.NaN()}),
	} {
		if _, err := s.Space(ctx, "v", opt); CodeOf(err) != CodeInvalidOption {
			t.Errorf("%s: %v, want INVALID_OPTION", name, err)
		}
	}
	sp, err := s.Space(ctx, "v", WithTiering(tier.Policy{HotCapacity: 10, WarmIdle: 900 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.tiering.policy.WarmIdle; got != time.Second {
		t.Fatalf("WarmIdle 900ms kept as %v, want 1s", got)
	}
}

// TestUpdatedConfidenceRanksHotMemories: a BatchUpdate of confidence reaches the hot tier's
// ranking at once, not at the next Open.
func TestUpdatedConfidenceRanksHotMemories(t *testing.T) {
	ctx := context.Background()
	s, sp := tiered(t, tier.Policy{HotCapacity: 10})
	r := rand.New(rand.NewPCG(5, 6))
	var first []Memory
	for i := 0; i < 10; i++ {
		first = append(first, Memory{ID: "m" + itoa(i), Embedding: randUnit(r, 8), Confidence: Confidence(0.9)})
	}
	mustStore(t, sp, first)
	// The newest memory, equally confident: without the update it would rank highest.
	mustStore(t, sp, []Memory{{ID: "x", Embedding: randUnit(r, 8), Confidence: Confidence(0.9)}})
	if res, err := sp.BatchUpdate(ctx, []Update{{ID: "x", Patch: Patch{Confidence: Confidence(0.01)}}}); err != nil || res.Failed != 0 {
		t.Fatalf("BatchUpdate: %v %v", err, res.Err())
	}
	if _, err := sp.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tierOfID(t, sp, "x"); got != Warm {
		t.Fatalf("x, updated to confidence 0.01, is %v after migration; want warm", got)
	}
	mustCheck(t, s)
}

// TestConcurrentConfidenceUpdatesRankInCommitOrder: concurrent BatchUpdates of one
// memory's confidence reach the hot tier's ranking in commit order, so the ranking ends
// with the confidence the record holds (before, the ranking was updated after the commit
// but outside the space's commit order, and an older value could land last).
func TestConcurrentConfidenceUpdatesRankInCommitOrder(t *testing.T) {
	ctx := context.Background()
	_, sp := tiered(t, tier.Policy{HotCapacity: 100})
	r := rand.New(rand.NewPCG(7, 8))
	mustStore(t, sp, []Memory{{ID: "x", Embedding: randUnit(r, 8)}})
	for round := range 20 {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				c := float32(round*8+w) / 200
				if res, err := sp.BatchUpdate(ctx, []Update{{ID: "x", Patch: Patch{Confidence: Confidence(c)}}}); err != nil || res.Failed != 0 {
					t.Errorf("BatchUpdate: %v", err)
				}
			})
		}
		wg.Wait()
		m, err := sp.Get(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		sp.tiering.mu.Lock()
		ranked := sp.tiering.hot[hitSeq(t, sp, "x")].conf
		sp.tiering.mu.Unlock()
		if ranked != m.Conf() {
			t.Fatalf("round %d: the ranking holds confidence %v, the record %v", round, ranked, m.Conf())
		}
	}
}

// hitSeq returns the record sequence number of the memory with id.
func hitSeq(t *testing.T, sp *Space, id string) uint64 {
	t.Helper()
	var seq uint64
	err := sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		k := b.keyOf(id)
		if k == nil {
			return fmt.Errorf("%s not found", id)
		}
		seq, err = codec.KeySeq(k)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}
