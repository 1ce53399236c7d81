package engram_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// fifteen returns 15 memories on the unit circle, "m00" to "m14", created one a day over
// the last 15 days (m00 first), so the low-numbered ones have the lowest activation.
func fifteen() []engram.Memory {
	now := time.Now()
	mems := make([]engram.Memory, 15)
	for i := range mems {
		a := float64(i) * math.Pi / 30 // 6° apart
		mems[i] = engram.Memory{
			ID:        fmt.Sprintf("m%02d", i),
			Embedding: []float32{float32(math.Cos(a)), float32(math.Sin(a))},
			CreatedAt: now.Add(-time.Duration(15-i) * 24 * time.Hour),
		}
	}
	return mems
}

func ExampleWithTiering() {
	// Background migration off, so that only the explicit Migrate below moves memories.
	s, done := tempStore(engram.WithMigrateInterval(0))
	defer done()
	ctx := context.Background()

	// At most about 10 memories in the in-memory index; the rest go warm.
	sp, err := s.Space(ctx, "chat", engram.WithTiering(tier.Policy{HotCapacity: 10}))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sp.BatchRemember(ctx, fifteen()); err != nil {
		log.Fatal(err)
	}
	st := sp.Stats()
	fmt.Println("before:", st.Tiers, st.Tiering.State)

	// Demote the lowest-activation memories until the hot tier is back at its low
	// watermark (90% of the capacity).
	if _, err := sp.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	st = sp.Stats()
	fmt.Println("after:", st.Tiers, st.Tiering.State, "index:", st.IndexLen)

	old, _ := sp.Get(ctx, "m00")   // the oldest: demoted
	fresh, _ := sp.Get(ctx, "m14") // the newest: stays hot
	fmt.Println(old.ID, old.Tier, fresh.ID, fresh.Tier, sp.Len())
	// Output:
	// before: [15 0 0] overloaded
	// after: [9 6 0] normal index: 9
	// m00 warm m14 hot 15
}

func ExampleSpace_Migrate() {
	s, done := tempStore(engram.WithMigrateInterval(0))
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "chat", engram.WithTiering(tier.Policy{HotCapacity: 10}))
	sp.BatchRemember(ctx, fifteen())

	ms, err := sp.Migrate(ctx)
	fmt.Printf("promoted %d, demoted %d, cooled %d, %v\n", ms.Promoted, ms.Demoted, ms.Cooled, err)

	// Default recall searches hot and warm together: the best match wins wherever it is
	// (and a warm hit is queued for promotion, which the next cycle carries out) ...
	q := engram.Query{Embedding: []float32{1, 0}, K: 1}
	hits, _ := sp.Recall(ctx, q)
	fmt.Println(hits[0].Memory.ID, hits[0].Memory.Tier)
	// ... while a query naming the hot tier searches only the hot memories.
	q.Tiers = tier.Of(tier.Hot)
	hits, _ = sp.Recall(ctx, q)
	fmt.Println(hits[0].Memory.ID, hits[0].Memory.Tier)
	ms, err = sp.Migrate(ctx)
	fmt.Printf("promoted %d, demoted %d, cooled %d, %v\n", ms.Promoted, ms.Demoted, ms.Cooled, err)
	m, _ := sp.Get(ctx, "m00")
	fmt.Println(m.ID, m.Tier, sp.Stats().Tiers)

	// On a space without tiering, Migrate does nothing.
	plain, _ := s.Space(ctx, "plain")
	plain.Remember(ctx, engram.Memory{Embedding: []float32{1, 0}})
	ms, err = plain.Migrate(ctx)
	fmt.Println(ms.Promoted+ms.Demoted+ms.Cooled, err)
	// Output:
	// promoted 0, demoted 6, cooled 0, <nil>
	// m00 warm
	// m06 hot
	// promoted 1, demoted 0, cooled 0, <nil>
	// m00 hot [10 5 0]
	// 0 <nil>
}

func ExampleWithMigrateInterval() {
	// Migrate in the background every 50 ms (and at once whenever a write takes a hot
	// tier past its high watermark). 0 would turn background migration off.
	s, done := tempStore(engram.WithMigrateInterval(50 * time.Millisecond))
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "chat", engram.WithTiering(tier.Policy{HotCapacity: 10}))
	sp.BatchRemember(ctx, fifteen())

	// Nothing to call: wait for the migrator to finish a cycle.
	deadline := time.Now().Add(10 * time.Second)
	for sp.Stats().Tiering.Demoted == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := sp.Stats()
	fmt.Println(st.Tiers, st.Tiering.Demoted)
	// Output: [9 6 0] 6
}

func ExampleSpace_Archive() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes") // Archive works with or without tiering
	sp.Remember(ctx, engram.Memory{ID: "today", Embedding: []float32{1, 0.1}})

	res, err := sp.Archive(ctx, []engram.Memory{
		{ID: "2019", Content: "old diary", Embedding: []float32{1, 0}},
		{ID: "bad", Embedding: []float32{0, 0}}, // fails alone, as with BatchRemember
	})
	fmt.Println(res.Stored, res.Failed, err, sp.Stats().Tiers)

	// Cold memories stay out of default recall ...
	cue := engram.Query{Embedding: []float32{1, 0}, K: 5}
	hits, _ := sp.Recall(ctx, cue)
	fmt.Println(len(hits), hits[0].Memory.ID)
	// ... until a query names the cold tier.
	cue.Tiers = tier.All
	hits, _ = sp.Recall(ctx, cue)
	fmt.Println(len(hits), hits[0].Memory.ID, hits[0].Memory.Tier)

	// Get always reads them.
	m, _ := sp.Get(ctx, "2019")
	fmt.Println(m.Content, m.Tier)
	// Output:
	// 1 1 <nil> [1 0 1]
	// 1 today
	// 2 2019 cold
	// old diary cold
}

func ExampleSpace_ArchiveWhere() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "journal", engram.WithTiering(tier.Policy{HotCapacity: 1000}))
	for year := 2021; year <= 2025; year++ {
		sp.Remember(ctx, engram.Memory{
			ID:        fmt.Sprint(year),
			Embedding: []float32{1, float32(year - 2020)},
			CreatedAt: time.Date(year, 6, 1, 0, 0, 0, 0, time.UTC),
		})
	}
	// Archive everything older than 2024.
	cutoff := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	n, err := sp.ArchiveWhere(ctx, 100, func(m engram.Memory) bool { return m.CreatedAt.Before(cutoff) })
	fmt.Println(n, err, sp.Stats().Tiers)

	for m, err := range sp.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.ID, m.Tier)
	}
	// Output:
	// 3 <nil> [2 0 3]
	// 2021 cold
	// 2022 cold
	// 2023 cold
	// 2024 hot
	// 2025 hot
}

func ExampleWithDecay() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	// Confidence halves every day a memory goes without being recalled.
	sp, err := s.Space(ctx, "facts", engram.WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: 24 * time.Hour}))
	if err != nil {
		log.Fatal(err)
	}
	sp.Remember(ctx, engram.Memory{
		ID:         "parking",
		Content:    "the car is on level 3",
		Embedding:  []float32{1, 0},
		Confidence: engram.Confidence(0.8),
		CreatedAt:  time.Now().Add(-48 * time.Hour), // two half-lives ago
	})

	q := engram.Query{Embedding: []float32{1, 0}, K: 1}
	hits, _ := sp.Recall(ctx, q)
	h := hits[0]
	// The score uses the decayed confidence; the stored one is unchanged.
	fmt.Printf("stored %.2f, decayed %.2f, score %.2f\n", h.Memory.Conf(), h.Confidence, h.Score)

	// That recall was an access: the memory is fresh again.
	hits, _ = sp.Recall(ctx, q)
	fmt.Printf("stored %.2f, decayed %.2f\n", hits[0].Memory.Conf(), hits[0].Confidence)
	// Output:
	// stored 0.80, decayed 0.20, score 0.60
	// stored 0.80, decayed 0.80
}
