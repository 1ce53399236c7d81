package engram

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// migrateAll runs migration cycles until one moves nothing.
func migrateAll(t *testing.T, sp *Space) {
	t.Helper()
	for range 100 {
		st, err := sp.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Promoted+st.Demoted+st.Cooled == 0 {
			return
		}
	}
	t.Fatal("migration does not settle")
}

// foundByDefault checks that default recall returns each memory of mems that is in tier
// want at rank 1 by its own vector, and returns how many it checked.
func foundByDefault(t *testing.T, sp *Space, mems []Memory, want Tier) int {
	t.Helper()
	n := 0
	for _, m := range mems {
		got, err := sp.Get(context.Background(), m.ID)
		if errors.Is(err, ErrNotFound) {
			continue // forgotten
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.Tier != want {
			continue
		}
		hits, err := sp.Recall(context.Background(), Query{Embedding: m.Embedding, K: 1, SimilarityOnly: true})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID || hits[0].Memory.Tier != want {
			t.Fatalf("%s (%v) not recalled at rank 1 by default: %+v %v", m.ID, want, hits, err)
		}
		n++
	}
	return n
}

// TestWarmIndexSnapshot: the warm index is found by default recall, saved at Close and
// loaded at Open; a stale snapshot (the tier changed since: demotions, promotions,
// forgets) is reconciled with the records; a damaged one is reported by Check and rebuilt.
func TestWarmIndexSnapshot(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(path, WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	sp := mustSpace(t, s, "w", WithTiering(tier.Policy{HotCapacity: 100}), WithDimension(16))
	r := rand.New(rand.NewPCG(4, 4))
	mems := synthetic(r, 1500, 16, "m")
	for off := 0; off < len(mems); off += 100 {
		mustStore(t, sp, mems[off:off+100])
		migrateAll(t, sp)
	}
	st := sp.Stats()
	if st.Tiers[tier.Warm] < 1300 || st.Tiering.WarmIndexLen != int(st.Tiers[tier.Warm]) {
		t.Fatalf("tiers %v, warm index %d", st.Tiers, st.Tiering.WarmIndexLen)
	}
	if n := foundByDefault(t, sp, mems[:300], Warm); n < 250 {
		t.Fatalf("only %d warm memories among the first 300", n)
	}
	mustCheck(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	reopen := func() *Space {
		t.Helper()
		if s, err = Open(path, WithMigrateInterval(0)); err != nil {
			t.Fatal(err)
		}
		sp, err := s.LookupSpace("w")
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	sp = reopen()
	if st := sp.Stats(); st.Tiering.WarmLoadedFrom != "snapshot" || st.Tiering.WarmIndexLen != int(st.Tiers[tier.Warm]) {
		t.Fatalf("after reopen: %+v", st.Tiering)
	}
	foundByDefault(t, sp, mems[:300], Warm)
	mustCheck(t, s)

	// Make the snapshot stale, then close without saving (as a crash would).
	if err := sp.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	var warm []Memory
	for _, m := range mems[:400] {
		if tierOfID(t, sp, m.ID) == Warm {
			warm = append(warm, m)
		}
	}
	if _, err := sp.Forget(ctx, warm[0].ID, warm[1].ID); err != nil {
		t.Fatal(err)
	}
	more := synthetic(r, 200, 16, "n")
	mustStore(t, sp, more)
	migrateAll(t, sp)
	for _, m := range warm[2:7] { // recalled: promoted at the next cycle
		sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1})
	}
	if _, err := sp.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range warm[2:7] {
		if tierOfID(t, sp, m.ID) != Hot {
			t.Fatalf("%s not promoted", m.ID)
		}
	}
	sp.tiering.warmSaved = sp.warmIndex().Changes() // pretend both indexes are saved
	if g, ok := sp.graph(); ok {
		sp.snapChanges = g.Changes()
	}
	s.Close()

	sp = reopen()
	st = sp.Stats()
	if st.Tiering.WarmLoadedFrom != "snapshot" || st.Tiering.WarmIndexLen != int(st.Tiers[tier.Warm]) {
		t.Fatalf("stale snapshot not reconciled: %+v %v", st.Tiering, st.Tiers)
	}
	mustCheck(t, s)
	for _, m := range warm[:2] {
		hits, _ := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 3})
		for _, h := range hits {
			if h.Memory.ID == m.ID {
				t.Fatalf("forgotten %s recalled", m.ID)
			}
		}
	}
	foundByDefault(t, sp, append(mems[:300:300], more...), Warm) // the new demotions too
	foundByDefault(t, sp, warm[2:7], Hot)
	s.Close()

	// A damaged snapshot: Check reports it, Open rebuilds the index from the records.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(spaceBucket("w", kindWarm))
		c := append([]byte(nil), b.Get([]byte{0, 0, 0, 0})...)
		c[len(c)/2] ^= 0x5a
		return b.Put([]byte{0, 0, 0, 0}, c)
	})
	db.Close()
	sp = reopen()
	defer s.Close()
	if st := sp.Stats(); st.Tiering.WarmLoadedFrom != "records" || st.Tiering.WarmIndexLen != int(st.Tiers[tier.Warm]) {
		t.Fatalf("damaged snapshot: %+v", st.Tiering)
	}
	rep, err := s.Check(ctx)
	if err != nil || rep.OK || rep.Spaces[0].ProblemCount != 1 {
		t.Fatalf("Check of a damaged warm snapshot: %v %+v", err, rep)
	}
	foundByDefault(t, sp, mems[:300], Warm)
	if err := sp.Snapshot(ctx); err != nil { // the rebuilt index replaces it
		t.Fatal(err)
	}
	mustCheck(t, s)
}

// TestDemotionFailureLeavesNoWarmNode: a demotion whose commit fails takes the nodes it
// linked ahead out of the warm index again, and the retry moves them.
func TestDemotionFailureLeavesNoWarmNode(t *testing.T) {
	ctx := context.Background()
	s := openHooked(t, filepath.Join(t.TempDir(), "f.db"), WithMigrateInterval(0))
	sp := mustSpace(t, s, "f", WithTiering(tier.Policy{HotCapacity: 50}), WithDimension(8))
	r := rand.New(rand.NewPCG(6, 6))
	mustStore(t, sp, synthetic(r, 54, 8, "a"))
	boom := errors.New("disk on fire")
	setCommitHook(s, func(int) error { return boom })
	if _, err := sp.Migrate(ctx); err == nil {
		t.Fatal("migration with failing commits succeeded")
	}
	setCommitHook(s, nil)
	if st := sp.Stats(); st.Tiers != [3]int64{54, 0, 0} || st.Tiering.WarmIndexLen != 0 || sp.warmIndex().Stats().Hidden != 0 {
		t.Fatalf("after the failed demotion: %v, warm index %d %+v", st.Tiers, st.Tiering.WarmIndexLen, sp.warmIndex().Stats())
	}
	mustCheck(t, s)
	if st, err := sp.Migrate(ctx); err != nil || st.Demoted == 0 {
		t.Fatalf("retry: %+v %v", st, err)
	}
	if st := sp.Stats(); st.Tiering.WarmIndexLen != int(st.Tiers[tier.Warm]) || st.Tiers[tier.Warm] == 0 {
		t.Fatalf("after the retry: %v, warm index %d", st.Tiers, st.Tiering.WarmIndexLen)
	}
	mustCheck(t, s)
}

// TestPromotionSwitchesToGraph: promotions that take a space on the exact index past the
// graph threshold switch it to the graph at once, not at the next write.
func TestPromotionSwitchesToGraph(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithMigrateInterval(0))
	sp := mustSpace(t, s, "p", WithTiering(tier.Policy{HotCapacity: 1000}), WithHNSWThreshold(100), WithDimension(8))
	r := rand.New(rand.NewPCG(7, 7))
	mustStore(t, sp, synthetic(r, 60, 8, "hot"))
	cold := synthetic(r, 60, 8, "cold")
	if res, err := sp.Archive(ctx, cold); err != nil || res.Stored != 60 {
		t.Fatalf("archive: %v", err)
	}
	for _, m := range cold { // recalled from cold: queued for promotion
		if _, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Tiers: tier.Of(tier.Cold)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := sp.Stats(); st.Index != "flat" {
		t.Fatalf("before the promotions: %s", st.Index)
	}
	if st, err := sp.Migrate(ctx); err != nil || st.Promoted != 60 {
		t.Fatalf("promotions: %+v %v", st, err)
	}
	if st := sp.Stats(); st.Index != "hnsw" || st.IndexLen != 120 || st.Tiers != [3]int64{120, 0, 0} {
		t.Fatalf("after promotions past the threshold: %s, %d in the index, tiers %v", st.Index, st.IndexLen, st.Tiers)
	}
	for _, m := range cold[:10] {
		hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Tiers: tier.Of(tier.Hot)})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID {
			t.Fatalf("promoted %s not in the graph: %+v %v", m.ID, hits, err)
		}
	}
	mustCheck(t, s)
}

// TestDirectToWarm: once the hot tier is full, a memory that the next cycle would demote at
// once (its activation below the last cycle's cut: an old memory nobody recalled) is
// written to warm directly; fresh ones still enter hot.
func TestDirectToWarm(t *testing.T) {
	ctx := context.Background()
	s, sp := tiered(t, tier.Policy{HotCapacity: 100})
	r := rand.New(rand.NewPCG(8, 8))
	fresh := synthetic(r, 105, 8, "f")
	for i := range fresh {
		fresh[i].CreatedAt = time.Now().Add(-time.Duration(105-i) * time.Hour)
	}
	mustStore(t, sp, fresh)
	if st, err := sp.Migrate(ctx); err != nil || st.Demoted != 15 {
		t.Fatalf("first demotion: %+v %v", st, err)
	}
	old := synthetic(r, 20, 8, "o")
	for i := range old {
		old[i].CreatedAt = time.Now().AddDate(-1, 0, 0) // a year idle: activation near 0
	}
	mustStore(t, sp, old)
	now := synthetic(r, 20, 8, "n") // fresh and confident: hot
	for i := range now {
		now[i].CreatedAt, now[i].Confidence = time.Now(), Confidence(1)
	}
	mustStore(t, sp, now)
	if st := sp.Stats(); st.Tiers != [3]int64{110, 35, 0} || st.Tiering.WarmIndexLen != 35 {
		t.Fatalf("tiers %v, warm index %d", st.Tiers, st.Tiering.WarmIndexLen)
	}
	foundByDefault(t, sp, old, Warm)
	mustCheck(t, s)
	// Below the high watermark every write goes hot, however old.
	_, sp2 := tiered(t, tier.Policy{HotCapacity: 100})
	mustStore(t, sp2, old)
	if st := sp2.Stats(); st.Tiers != [3]int64{20, 0, 0} {
		t.Fatalf("with room in hot: tiers %v", st.Tiers)
	}
}

// TestWarmBreadth: a recall searches the warm graph at the space's query breadth
// (EfSearch, as the hot graph), at the query's own Breadth when it sets one, and never
// narrower than K.
func TestWarmBreadth(t *testing.T) {
	s := openTemp(t)
	policy := WithTiering(tier.Policy{HotCapacity: 100})
	for i, c := range []struct {
		opts []SpaceOption
		q    Query
		want int
	}{
		{nil, Query{K: 10}, DefaultHNSWEfSearch},
		{[]SpaceOption{WithHNSW(16, 200, 300)}, Query{K: 10}, 300},
		{[]SpaceOption{WithHNSW(16, 200, 300)}, Query{K: 10, Breadth: 40}, 40},
		{[]SpaceOption{WithHNSW(16, 200, 8)}, Query{K: 20}, 20},
	} {
		sp := mustSpace(t, s, fmt.Sprintf("s%d", i), append(c.opts, WithDimension(4), policy)...)
		r := &recaller{sp: sp, q: &c.q}
		if got := r.warmBreadth(); got != c.want {
			t.Errorf("case %d: warm breadth %d, want %d", i, got, c.want)
		}
	}
}
