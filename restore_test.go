package engram

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
)

// TestRestoreIsFaithful: memories read with All and written back with Restore come back
// identical in every field — embedding bits, tier (hot, warm, cold), access statistics,
// confidence, timestamps, metadata — and in their indexes (Check), so a second read equals
// the first.
func TestRestoreIsFaithful(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithMigrateInterval(0))
	pol := tier.Policy{HotCapacity: 20, BatchSize: 10}
	src := mustSpace(t, s, "src", WithTiering(pol), WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: time.Hour}))
	r := rand.New(rand.NewPCG(3, 4))
	mems := synthetic(r, 60, 16, "m")
	for i := range mems {
		mems[i].Metadata = map[string]string{"i": itoa(i)}
		mems[i].Tags = []string{"t" + itoa(i%3)}
		mems[i].Confidence = Confidence(float32(i%10) / 10)
	}
	mustStore(t, src, mems)
	if res, err := src.Archive(ctx, synthetic(r, 10, 16, "a")); err != nil || res.Failed != 0 {
		t.Fatal(err, res.Err())
	}
	if _, err := src.Recall(ctx, Query{Embedding: mems[3].Embedding, K: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Migrate(ctx); err != nil { // 60 hot over a capacity of 20: demotions
		t.Fatal(err)
	}
	before := readAll(t, src)
	tiers := map[Tier]int{}
	for _, m := range before {
		tiers[m.Tier]++
	}
	if tiers[Hot] == 0 || tiers[Warm] == 0 || tiers[Cold] != 10 {
		t.Fatalf("tiers %v: the test wants all three", tiers)
	}

	dst := mustSpace(t, s, "dst", WithTiering(pol), WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: time.Hour}))
	if res, err := dst.Restore(ctx, before); err != nil || res.Failed != 0 {
		t.Fatal(err, res.Err())
	}
	after := readAll(t, dst)
	if len(after) != len(before) {
		t.Fatalf("%d memories restored, want %d", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.Content != b.Content || !slices.Equal(a.Embedding, b.Embedding) || a.Conf() != b.Conf() ||
			!a.CreatedAt.Equal(b.CreatedAt) || !a.LastAccess.Equal(b.LastAccess) || a.AccessCount != b.AccessCount ||
			!maps.Equal(a.Metadata, b.Metadata) || !slices.Equal(a.Tags, b.Tags) || a.Tier != b.Tier {
			t.Fatalf("memory %d differs after restore:\n%+v\n%+v", i, b, a)
		}
	}
	if got := dst.Stats().Tiers; got != src.Stats().Tiers {
		t.Fatalf("tier counts %v, source %v", got, src.Stats().Tiers)
	}
	mustCheck(t, s)
	// A warm memory is found in the warm tier of the restored space.
	for _, m := range before {
		if m.Tier != Warm {
			continue
		}
		hits, err := dst.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Tiers: tier.Of(tier.Warm)})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID {
			t.Fatalf("restored warm %s not recalled from warm: %v %v", m.ID, hits, err)
		}
		break
	}
}

// TestRestoreIntoUntieredSpace: warm memories restored into a space without tiering become
// hot (there is no warm tier to hold them); bad tiers and access times fail alone.
func TestRestoreIntoUntieredSpace(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "plain", WithDimension(4))
	res, err := sp.Restore(ctx, []Memory{
		{ID: "w", Embedding: unit(1, 2, 3, 4), Tier: Warm, AccessCount: 3, LastAccess: time.Unix(1e9, 0)},
		{ID: "c", Embedding: unit(4, 3, 2, 1), Tier: Cold},
		{ID: "bad-tier", Embedding: unit(1, 1, 1, 1), Tier: Tier(7)},
		{ID: "bad-time", Embedding: unit(1, 1, 1, 2), LastAccess: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
	})
	if err != nil || res.Stored != 2 {
		t.Fatalf("stored %d: %v %v", res.Stored, err, res.Err())
	}
	if !errors.Is(res.Items[2].Err, ErrInvalidOption) || !errors.Is(res.Items[3].Err, ErrInvalidTimestamp) {
		t.Fatalf("bad items: %v / %v", res.Items[2].Err, res.Items[3].Err)
	}
	w, err := sp.Get(ctx, "w")
	if err != nil || w.Tier != Hot || w.AccessCount != 3 || !w.LastAccess.Equal(time.Unix(1e9, 0)) {
		t.Fatalf("w: %+v %v", w, err)
	}
	if c, _ := sp.Get(ctx, "c"); c.Tier != Cold {
		t.Fatalf("c in %v", c.Tier)
	}
	mustCheck(t, s)
}

// TestUnitEmbeddingsStoredAsGiven: an embedding already of unit length (as every one read
// back from the store is) is stored bit for bit; others are normalized.
func TestUnitEmbeddingsStoredAsGiven(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "u", WithDimension(64))
	r := rand.New(rand.NewPCG(9, 9))
	mems := synthetic(r, 500, 64, "x")
	mustStore(t, sp, mems)
	first := readAll(t, sp)
	sp2 := mustSpace(t, s, "u2", WithDimension(64))
	mustStore(t, sp2, first)
	for i, m := range readAll(t, sp2) {
		if !slices.Equal(m.Embedding, first[i].Embedding) {
			t.Fatalf("memory %d moved on a second write: %v vs %v", i, m.Embedding[:4], first[i].Embedding[:4])
		}
	}
}

func readAll(t *testing.T, sp *Space) []Memory {
	t.Helper()
	var out []Memory
	for m, err := range sp.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
