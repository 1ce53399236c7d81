package engram_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

func ExampleStore_Backup() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes", engram.WithIndex(engram.IndexHNSW))
	sp.BatchRemember(ctx, []engram.Memory{
		{ID: "tea", Content: "Ada prefers tea", Embedding: []float32{0.9, 0.1}},
		{ID: "cat", Content: "Ada's cat is Turing", Embedding: []float32{0.1, 0.9}},
	})

	// Copy the store while it serves reads and writes. Write to a temporary file and
	// rename it into place once complete: a failed or canceled backup is not a copy.
	dir, _ := os.MkdirTemp("", "engram-backup")
	defer os.RemoveAll(dir)
	tmp, err := os.CreateTemp(dir, "backup-*.tmp")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Backup(ctx, tmp); err != nil {
		log.Fatal(err)
	}
	if err := tmp.Sync(); err != nil {
		log.Fatal(err)
	}
	tmp.Close()
	path := filepath.Join(dir, "backup.db")
	if err := os.Rename(tmp.Name(), path); err != nil {
		log.Fatal(err)
	}

	// The copy is a store of its own: it passes Check and its graph opens from the
	// snapshot Backup saved, without a rebuild.
	c, err := engram.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	rep, _ := c.Check(ctx)
	cp, _ := c.LookupSpace("notes")
	m, _ := cp.Get(ctx, "cat")
	fmt.Println(rep.OK, cp.Len(), cp.Stats().IndexLoadedFrom, m.Content)
	// Output:
	// true 2 snapshot Ada's cat is Turing
}

func ExampleSpace_Settings() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	src, _ := s.Space(ctx, "notes", engram.WithDimension(384), engram.WithConfidenceWeight(0.2),
		engram.WithTiering(tier.Policy{HotCapacity: 10_000}))

	set := src.Settings()
	fmt.Println(set.Dim, set.Index, set.ConfidenceWeight, set.Tiering.HotCapacity, set.Tiering.ActivationHalfLife)

	// A space created with the settings' options is configured like the original.
	dst, err := s.Space(ctx, "notes-copy", set.Options()...)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dst.Settings() == set)
	// Output:
	// 384 auto 0.2 10000 168h0m0s
	// true
}

func ExampleSpaceSettings_Options() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	src, _ := s.Space(ctx, "events", engram.WithIndex(engram.IndexFlat),
		engram.WithDecay(tier.Decay{Kind: tier.Exponential}))
	opts := src.Settings().Options()

	// The options recreate the space in another store...
	other, done2 := tempStore()
	defer done2()
	dst, _ := other.Space(ctx, "events", opts...)
	fmt.Println(dst.Settings().Index, dst.Settings().Decay.HalfLife)

	// ...and, like any options, are checked against a space that already exists.
	s.Space(ctx, "plain")
	_, err := s.Space(ctx, "plain", opts...)
	fmt.Println(engram.CodeOf(err))
	// Output:
	// flat 720h0m0s
	// INVALID_OPTION
}
