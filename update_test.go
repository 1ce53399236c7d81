package engram

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBatchUpdate(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "u")
	mustStore(t, sp, []Memory{
		{ID: "a", Embedding: unit(1, 0), Confidence: Confidence(0.9), Metadata: map[string]string{"k": "v", "drop": "x"}, Tags: []string{"t"}},
		{ID: "b", Embedding: unit(0, 1)},
		{ID: "c", Embedding: unit(0.6, 0.8), Confidence: Confidence(0.1)}, // below the recall filter below
	})
	res, err := sp.BatchUpdate(ctx, []Update{
		{ID: "a", Patch: Patch{Confidence: Confidence(0.2), SetMetadata: map[string]string{"new": "1"}, DeleteMetadata: []string{"drop"}, Tags: []string{}}},
		{ID: "missing", Patch: Patch{Confidence: Confidence(0.5)}},
		{ID: "b", Patch: Patch{Confidence: Confidence(1.5)}},
		{ID: "", Patch: Patch{}},
		{ID: "a", Patch: Patch{}},
		{ID: "b", Patch: Patch{SetMetadata: map[string]string{"big": strings.Repeat("x", 70_000)}}},
		{ID: "c", Patch: Patch{Tags: []string{"caf\xe9"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Code{0, CodeNotFound, CodeInvalidConfidence, CodeInvalidID, CodeDuplicateID, CodeMetadataTooLarge, CodeInvalidText}
	for i, c := range want {
		if got := CodeOf(res.Items[i].Err); (c == 0 && res.Items[i].Err != nil) || (c != 0 && got != c) {
			t.Fatalf("update %d: %v, want %s", i, res.Items[i].Err, c)
		}
	}
	if res.Stored != 1 || res.Failed != 6 {
		t.Fatalf("stored %d failed %d", res.Stored, res.Failed)
	}
	a, _ := sp.Get(ctx, "a")
	if a.Conf() != 0.2 || a.Metadata["new"] != "1" || a.Metadata["k"] != "v" || a.Metadata["drop"] != "" || len(a.Tags) != 0 || a.Embedding[0] != 1 {
		t.Fatalf("patched memory: %+v", a)
	}
	// The index still finds it, with the new confidence filtering as expected.
	hits, _ := sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 2, MinConfidence: 0.5})
	if len(hits) != 1 || hits[0].Memory.ID != "b" {
		t.Fatalf("recall after update: %+v", hits)
	}
	if _, err := sp.BatchUpdate(ctx, nil); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty update: %v", err)
	}
}

func TestUpdateWhereAcrossCorpus(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "c")
	mems := synthetic(rand.New(rand.NewPCG(4, 4)), 1200, 8, "c")
	mustStore(t, sp, mems)
	// Halve the confidence of every "odd" memory, in batches of 250.
	res, err := sp.UpdateWhere(ctx, 250, func(m Memory) (Patch, bool) {
		if m.Metadata["parity"] != "odd" {
			return Patch{}, false
		}
		c := m.Conf() / 2
		return Patch{Confidence: &c, SetMetadata: map[string]string{"halved": "yes"}}, true
	})
	if err != nil || res.Stored != 600 || res.Failed != 0 {
		t.Fatalf("UpdateWhere: %v stored %d failed %d", err, res.Stored, res.Failed)
	}
	byID := map[string]Memory{}
	for _, m := range mems {
		byID[m.ID] = m
	}
	for m, err := range sp.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		orig := byID[m.ID]
		want := orig.Conf()
		if orig.Metadata["parity"] == "odd" {
			want /= 2
			if m.Metadata["halved"] != "yes" {
				t.Fatalf("%s not marked", m.ID)
			}
		}
		if m.Conf() != want {
			t.Fatalf("%s confidence %v, want %v", m.ID, m.Conf(), want)
		}
	}
	if st := sp.Stats(); st.Ops[OpUpdate].Items != 600 || st.Ops[OpUpdate].Calls != 3 {
		t.Fatalf("update metrics: %+v", st.Ops[OpUpdate])
	}
}

func TestRememberMixedFansOut(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	mustSpace(t, s, "x")
	mustSpace(t, s, "y")
	items := []SpaceMemory{
		{"x", Memory{ID: "x1", Embedding: unit(1, 0)}},
		{"y", Memory{ID: "y1", Embedding: unit(0, 1, 0)}},
		{"nope", Memory{ID: "n1", Embedding: unit(1, 0)}},
		{"x", Memory{ID: "x2", Embedding: unit(1, 0, 0)}}, // wrong dimension for x
		{"y", Memory{ID: "y2", Embedding: unit(0, 0, 1)}},
	}
	res, err := s.RememberMixed(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items[0].ID != "x1" || res.Items[1].ID != "y1" || res.Items[4].ID != "y2" ||
		!errors.Is(res.Items[2].Err, ErrSpaceNotFound) || !errors.Is(res.Items[3].Err, ErrDimensionMismatch) || res.Stored != 3 {
		t.Fatalf("mixed: %+v", res.Items)
	}
	var e *Error
	if errors.As(res.Items[3].Err, &e); e.Item != 3 {
		t.Fatalf("item index %d, want 3 (input position)", e.Item)
	}
}
