package engram_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"strings"
	"time"

	"github.com/engram-go/engram"
)

// notes opens a throw-away store with a space of six notes for the filter examples.
func notes() (*engram.Store, *engram.Space) {
	s, err := engram.OpenTemp()
	if err != nil {
		log.Fatal(err)
	}
	sp, err := s.Space(context.Background(), "notes")
	if err != nil {
		log.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }
	_, err = sp.BatchRemember(context.Background(), []engram.Memory{
		{ID: "n1", Content: "Quarterly report draft", Embedding: []float32{1, 0, 0}, CreatedAt: day(1),
			Metadata: map[string]string{"cat": "work", "priority": "3"}, Tags: []string{"urgent"}},
		{ID: "n2", Content: "Call the plumber", Embedding: []float32{0.9, 0.1, 0}, CreatedAt: day(2),
			Metadata: map[string]string{"cat": "home", "priority": "5"}, Tags: []string{"urgent"}},
		{ID: "n3", Content: "Book club: chapter 4", Embedding: []float32{0.8, 0.2, 0}, CreatedAt: day(3),
			Metadata: map[string]string{"cat": "leisure", "priority": "1"}},
		{ID: "n4", Content: "Report: final version", Embedding: []float32{0.7, 0.3, 0}, CreatedAt: day(4),
			Metadata: map[string]string{"cat": "work", "priority": "high"}},
		{ID: "n5", Content: "Water the plants", Embedding: []float32{0.6, 0.4, 0}, CreatedAt: day(5),
			Metadata: map[string]string{"cat": "home"}, Tags: []string{"daily"}},
		{ID: "n6", Content: "Team offsite draft agenda", Embedding: []float32{0.5, 0.5, 0}, CreatedAt: day(6),
			Metadata: map[string]string{"cat": "work", "priority": "2"}, Tags: []string{"urgent", "daily"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	return s, sp
}

// show prints the IDs of the notes f matches, nearest to the cue first.
func show(sp *engram.Space, f engram.Filter) {
	hits, err := sp.Recall(context.Background(), engram.Query{Embedding: []float32{1, 0, 0}, K: 10, Where: f})
	if err != nil {
		fmt.Println(engram.CodeOf(err))
		return
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Memory.ID)
	}
	fmt.Printf("%s: %s\n", f, strings.Join(ids, " "))
}

// Query.Where restricts a recall to the memories a filter matches.
func ExampleQuery_where() {
	s, sp := notes()
	defer s.Close()
	hits, err := sp.Recall(context.Background(), engram.Query{
		Embedding: []float32{1, 0, 0},
		K:         3,
		Where:     engram.And(engram.Eq("cat", "work"), engram.HasTag("urgent")),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Println(h.Memory.ID, h.Memory.Content)
	}
	// A filter that cannot be evaluated is refused.
	_, err = sp.Recall(context.Background(), engram.Query{Embedding: []float32{1, 0, 0}, K: 3, Where: engram.In("cat")})
	fmt.Println(engram.CodeOf(err))
	// Output:
	// n1 Quarterly report draft
	// n6 Team offsite draft agenda
	// INVALID_QUERY
}

func ExampleEq() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.Eq("cat", "home"))
	show(sp, engram.Eq("cat", "Home")) // byte for byte
	// Output:
	// cat = "home": n2 n5
	// cat = "Home":
}

func ExampleIn() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.In("cat", "home", "leisure"))
	// Output: cat in ("home", "leisure"): n2 n3 n5
}

func ExampleHasTag() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.HasTag("daily"))
	// Output: tag = "daily": n5 n6
}

func ExampleRange() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.Range("priority", 2, 5))
	// Open-ended; n4's "high" is not a number, so it never matches a Range.
	show(sp, engram.Range("priority", math.Inf(-1), 2))
	// Output:
	// priority between 2 and 5: n1 n2 n6
	// priority <= 2: n3 n6
}

func ExampleCreatedBetween() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.CreatedBetween(time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 4, 0, 0, 0, 0, time.UTC)))
	show(sp, engram.CreatedBetween(time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), time.Time{})) // open end
	// Output:
	// created between "2025-01-02T00:00:00Z" and "2025-01-04T00:00:00Z": n2 n3 n4
	// created >= "2025-01-05T00:00:00Z": n5 n6
}

func ExampleContentContains() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.ContentContains("draft"))
	show(sp, engram.ContentContains("report")) // case-sensitive: "Report" is not "report"
	// Output:
	// content contains "draft": n1 n6
	// content contains "report": n1
}

func ExampleNot() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.Not(engram.Eq("cat", "work")))
	show(sp, engram.Not(engram.HasTag("urgent")))
	// Output:
	// cat != "work": n2 n3 n5
	// tag != "urgent": n3 n4 n5
}

func ExampleAnd() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.And(engram.Eq("cat", "work"), engram.ContentContains("draft")))
	show(sp, engram.And()) // no conditions: everything
	// Output:
	// cat = "work" and content contains "draft": n1 n6
	// true: n1 n2 n3 n4 n5 n6
}

func ExampleOr() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.Or(engram.Eq("cat", "leisure"), engram.HasTag("daily")))
	// Output: cat = "leisure" or tag = "daily": n3 n5 n6
}

// A Go predicate is a filter too: it sees each candidate decoded in full.
func ExampleFilterFunc() {
	s, sp := notes()
	defer s.Close()
	short := engram.FilterFunc(func(m engram.Memory) bool { return len(m.Content) < 20 })
	// In an And, the metadata test goes first and the predicate sees only what passes.
	show(sp, engram.And(engram.Eq("cat", "home"), short))
	// Output: cat = "home" and func: n2 n5
}

// ParseFilter reads the text form every filter prints (the CLI's --where).
func ExampleParseFilter() {
	s, sp := notes()
	defer s.Close()
	f, err := engram.ParseFilter(`cat = work and (tag = urgent or priority >= 3) and not content contains "agenda"`)
	if err != nil {
		log.Fatal(err)
	}
	show(sp, f)
	_, err = engram.ParseFilter(`cat = `)
	fmt.Println(err)
	// Output:
	// cat = "work" and (tag = "urgent" or priority >= 3) and not content contains "agenda": n1
	// engram: INVALID_QUERY: filter "cat = ": at offset 6: expected a value, found the end
}

// ForgetWhere takes a Filter, or a predicate as a FilterFunc.
func ExampleSpace_ForgetWhere() {
	s, sp := notes()
	defer s.Close()
	ctx := context.Background()
	n, err := sp.ForgetWhere(ctx, 100, engram.Eq("cat", "home"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("forgot", n, "left", sp.Len())
	n, _ = sp.ForgetWhere(ctx, 100, engram.FilterFunc(func(m engram.Memory) bool {
		return strings.HasPrefix(m.Content, "Report")
	}))
	fmt.Println("forgot", n, "left", sp.Len())
	// Output:
	// forgot 2 left 4
	// forgot 1 left 3
}

// WithTTL gives every memory written without an ExpiresAt one; expired memories vanish
// from reads at once and the migrator removes them.
func ExampleWithTTL() {
	s, err := engram.OpenTemp()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "sessions", engram.WithTTL(24*time.Hour))
	written := time.Now()
	sp.BatchRemember(ctx, []engram.Memory{
		{ID: "default", Embedding: []float32{1, 0}},
		{ID: "short", Embedding: []float32{0, 1}, ExpiresAt: time.Now().Add(-time.Second)}, // already past
	})
	m, _ := sp.Get(ctx, "default")
	fmt.Println("expires in about a day:", m.ExpiresAt.Sub(written).Round(time.Hour))
	_, err = sp.Get(ctx, "short")
	fmt.Println("expired:", engram.CodeOf(err))
	st, _ := sp.Migrate(ctx) // the background migrator does this on its own
	fmt.Println("removed:", st.Expired, "left:", sp.Len())
	// Output:
	// expires in about a day: 24h0m0s
	// expired: NOT_FOUND
	// removed: 1 left: 1
}

// Under WithTTLRefresh a recall pushes the expiry of what it returns to now + TTL.
func ExampleWithTTLRefresh() {
	s, err := engram.OpenTemp()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "cache", engram.WithTTL(time.Hour), engram.WithTTLRefresh())
	sp.Remember(ctx, engram.Memory{ID: "m", Embedding: []float32{1, 0}, ExpiresAt: time.Now().Add(time.Minute)})
	hits, _ := sp.Recall(ctx, engram.Query{Embedding: []float32{1, 0}, K: 1})
	fmt.Println("extended to about an hour:", time.Until(hits[0].Memory.ExpiresAt).Round(time.Hour))
	// Output: extended to about an hour: 1h0m0s
}

// OpenTemp is a store for tests and scratch work: no file to manage, gone on Close.
func ExampleOpenTemp() {
	s, err := engram.OpenTemp()
	if err != nil {
		log.Fatal(err)
	}
	sp, _ := s.Space(context.Background(), "scratch")
	sp.Remember(context.Background(), engram.Memory{Content: "hello", Embedding: []float32{1, 2, 3}})
	fmt.Println(sp.Len(), s.Stats().NoSync)
	if err := s.Close(); err != nil { // removes the file
		log.Fatal(err)
	}
	// Output: 1 true
}

// Patch.ExpiresAt changes a memory's expiry, or removes it with the zero time.
func ExamplePatch_expiresAt() {
	s, err := engram.OpenTemp()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes", engram.WithTTL(time.Hour))
	sp.Remember(ctx, engram.Memory{ID: "keep", Embedding: []float32{1, 0}})
	never := time.Time{}
	sp.BatchUpdate(ctx, []engram.Update{{ID: "keep", Patch: engram.Patch{ExpiresAt: &never}}})
	m, _ := sp.Get(ctx, "keep")
	fmt.Println("expires:", !m.ExpiresAt.IsZero())
	// Output: expires: false
}

// SpaceStats.Filters shows the postings and which plan answered filtered recalls.
func ExampleFilterStats() {
	s, sp := notes()
	defer s.Close()
	show(sp, engram.Eq("cat", "leisure"))
	st := sp.Stats().Filters
	fmt.Println(st.Postings.Keys, st.Postings.Pairs, st.Postings.Tags, st.Postings.Entries, st.Plans["postings"])
	// Output:
	// cat = "leisure": n3
	// 2 8 2 16 1
}
