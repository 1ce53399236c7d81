package engram

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	bolt "go.etcd.io/bbolt"
)

// idMapEntries counts the entries of a space's ID map, reading the file directly.
func idMapEntries(t *testing.T, s *Store, sp *Space) int {
	t.Helper()
	n := 0
	if err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(sp.names.ids).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Generated IDs carry their record's sequence number and get no ID-map entry; every
// operation by ID still finds them, and an upsert of one moves it into the map.
func TestGeneratedIDsNeedNoMapEntry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sp := mustSpace(t, s, "gen", WithDimension(8))
	r := rand.New(rand.NewPCG(1, 2))
	mems := synthetic(r, 20, 8, "")
	for i := range mems {
		mems[i].ID = "" // generated
	}
	mems[3].ID = "caller-chosen"
	res := mustStore(t, sp, mems)
	gen := res.Items[0].ID
	if got := idMapEntries(t, s, sp); got != 1 {
		t.Fatalf("ID map holds %d entries after 19 generated and 1 caller ID, want 1", got)
	}
	if seq, ok := ids.Seq(gen); !ok || seq == 0 {
		t.Fatalf("generated ID %s carries no sequence number", gen)
	}
	if m, err := sp.Get(ctx, gen); err != nil || m.Content != mems[0].Content {
		t.Fatalf("Get(%s) = %q, %v", gen, m.Content, err)
	}
	if m, err := sp.Get(ctx, "caller-chosen"); err != nil || m.Content != mems[3].Content {
		t.Fatalf("Get(caller-chosen) = %q, %v", m.Content, err)
	}
	mustCheck(t, s)

	// A string in the generated format that leads to another memory's record is not it.
	other := res.Items[1].ID
	seq, _ := ids.Seq(other)
	buf := make([]string, 1)
	s.ids.FillSeq(buf, []uint64{seq}) // same seq, other random half
	for _, id := range []string{buf[0], s.NewID(), strings.Repeat("0", 26)} {
		if _, err := sp.Get(ctx, id); CodeOf(err) != CodeNotFound {
			t.Fatalf("Get(%s) = %v, want NOT_FOUND", id, err)
		}
		if res, _ := sp.BatchUpdate(ctx, []Update{{ID: id, Patch: Patch{SetMetadata: map[string]string{"k": "v"}}}}); CodeOf(res.Items[0].Err) != CodeNotFound {
			t.Fatalf("BatchUpdate(%s) = %v, want NOT_FOUND", id, res.Items[0].Err)
		}
		if n, err := sp.Forget(ctx, id); n != 0 || err != nil {
			t.Fatalf("Forget(%s) = %d, %v; want 0, nil", id, n, err)
		}
	}

	// Update, then upsert by the generated ID: the old record goes, the map takes the ID.
	if res, err := sp.BatchUpdate(ctx, []Update{{ID: gen, Patch: Patch{SetMetadata: map[string]string{"k": "updated"}}}}); err != nil || res.Failed != 0 {
		t.Fatalf("BatchUpdate(%s): %v %v", gen, err, res.Err())
	}
	re := Memory{ID: gen, Content: "replaced", Embedding: randUnit(r, 8)}
	if res := mustStore(t, sp, []Memory{re}); !res.Items[0].Replaced {
		t.Fatalf("remembering %s again did not replace it", gen)
	}
	if got := idMapEntries(t, s, sp); got != 2 {
		t.Fatalf("ID map holds %d entries after the upsert, want 2", got)
	}
	if n := sp.Len(); n != 20 {
		t.Fatalf("Len = %d after an upsert, want 20", n)
	}
	hits, err := sp.Recall(ctx, Query{Embedding: re.Embedding, K: 1})
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != gen || hits[0].Memory.Content != "replaced" {
		t.Fatalf("Recall of the replaced vector = %+v, %v", hits, err)
	}
	mustCheck(t, s)

	// Access statistics of generated IDs are flushed (the flush finds them by ID).
	if _, err := sp.Get(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Recall(ctx, Query{Embedding: mems[1].Embedding, K: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: everything is found as before; forgetting works for both kinds.
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp = mustSpace(t, s, "gen")
	if m, err := sp.Get(ctx, other); err != nil || m.AccessCount == 0 {
		t.Fatalf("after reopen Get(%s) = %+v, %v; want a recorded access", other, m, err)
	}
	if m, err := sp.Get(ctx, gen); err != nil || m.Content != "replaced" {
		t.Fatalf("after reopen Get(%s) = %q, %v", gen, m.Content, err)
	}
	if n, err := sp.Forget(ctx, gen, other, "caller-chosen"); n != 3 || err != nil {
		t.Fatalf("Forget = %d, %v; want 3", n, err)
	}
	for _, id := range []string{gen, other, "caller-chosen"} {
		if _, err := sp.Get(ctx, id); CodeOf(err) != CodeNotFound {
			t.Fatalf("Get(%s) after Forget = %v, want NOT_FOUND", id, err)
		}
	}
	if got := idMapEntries(t, s, sp); got != 0 {
		t.Fatalf("ID map holds %d entries after forgetting its IDs, want 0", got)
	}
	mustCheck(t, s)

	// A space dropped and created again restarts its sequence: old IDs must not resurface.
	if err := s.DropSpace(ctx, "gen"); err != nil {
		t.Fatal(err)
	}
	sp = mustSpace(t, s, "gen", WithDimension(8))
	fresh := synthetic(r, 20, 8, "")
	for i := range fresh {
		fresh[i].ID = "" // generated again, for the same sequence numbers
	}
	mustStore(t, sp, fresh)
	for _, it := range res.Items[4:] {
		if _, err := sp.Get(ctx, it.ID); CodeOf(err) != CodeNotFound {
			t.Fatalf("Get(%s) of a dropped space's memory = %v, want NOT_FOUND", it.ID, err)
		}
	}
}

// Check notices a record whose generated ID no longer leads to it.
func TestCheckFindsAnUnreachableGeneratedID(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "c", WithDimension(4))
	res := mustStore(t, sp, []Memory{{Embedding: unit(1, 0, 0, 0)}, {Embedding: unit(0, 1, 0, 0)}})
	seq, _ := ids.Seq(res.Items[0].ID)
	// Move the first record to another key, as a damaged file might: its ID now leads nowhere.
	if err := s.update(context.Background(), func(tx *bolt.Tx) error {
		recs := tx.Bucket(sp.names.recs)
		v := append([]byte(nil), recs.Get(codec.SeqKey(seq))...)
		if err := recs.Delete(codec.SeqKey(seq)); err != nil {
			return err
		}
		return recs.Put(codec.SeqKey(1000), v)
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || !strings.Contains(strings.Join(rep.Spaces[0].Problems, "\n"), "missing from the ID map") {
		t.Fatalf("Check = %+v, want the unreachable record reported", rep)
	}
}

// A store of the first format (every ID in the map) opens, works and is marked current.
func TestOpenUpgradesFormatOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sp := mustSpace(t, s, "old", WithDimension(4))
	mustStore(t, sp, []Memory{{ID: "a", Embedding: unit(1, 0, 0, 0)}})
	setFormat := func(f byte) {
		if err := s.update(context.Background(), func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, []byte{f})
		}); err != nil {
			t.Fatal(err)
		}
	}
	setFormat(1)
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatalf("Open of a format-1 store: %v", err)
	}
	if m, err := mustSpace(t, s, "old").Get(context.Background(), "a"); err != nil || m.ID != "a" {
		t.Fatalf("Get after the upgrade = %+v, %v", m, err)
	}
	var f []byte
	s.view(func(tx *bolt.Tx) error { f = append(f, tx.Bucket(bucketMeta).Get(keyFormat)...); return nil })
	if len(f) != 1 || f[0] != storeFormat {
		t.Fatalf("format after Open = %v, want %d", f, storeFormat)
	}
	setFormat(storeFormat + 1)
	s.Close()
	if _, err := Open(path); CodeOf(err) != CodeCorrupt {
		t.Fatalf("Open of a newer format = %v, want CORRUPT", err)
	}
}

// Memories stored under older rules — a C1 control character in the ID, metadata that is
// not UTF-8 — stay reachable: the stricter rules apply to what a write brings.
func TestLegacyIDsAndTextStayReachable(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "legacy", WithDimension(2))
	mustStore(t, sp, []Memory{{ID: "seed", Embedding: unit(1, 0)}})
	rec := codec.Record{Confidence: 0.5, Created: time.Now().UnixNano(), Norm: 1, Vec: []float32{0, 1},
		ID: "old\u0085id", Meta: map[string]string{"k": "\xff"}}
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		key := codec.SeqKey(1000)
		if err := tx.Bucket(sp.names.recs).Put(key, codec.Encode(nil, &rec)); err != nil {
			return err
		}
		return tx.Bucket(sp.names.ids).Put([]byte(rec.ID), key)
	}); err != nil {
		t.Fatal(err)
	}
	if m, err := sp.Get(ctx, rec.ID); err != nil || m.Metadata["k"] != "\xff" {
		t.Fatalf("Get of a legacy memory = %+v, %v", m, err)
	}
	res, err := sp.BatchUpdate(ctx, []Update{{ID: rec.ID, Patch: Patch{Confidence: Confidence(0.9)}}})
	if err != nil || res.Failed != 0 {
		t.Fatalf("confidence update of a legacy memory: %v %v", err, res.Err())
	}
	res, _ = sp.BatchUpdate(ctx, []Update{{ID: rec.ID, Patch: Patch{SetMetadata: map[string]string{"new": "\xfe"}}}})
	if CodeOf(res.Items[0].Err) != CodeInvalidText {
		t.Fatalf("update bringing invalid text = %v, want INVALID_TEXT", res.Items[0].Err)
	}
	if _, err := sp.Remember(ctx, Memory{ID: rec.ID, Embedding: unit(0, 1)}); CodeOf(err) != CodeInvalidID {
		t.Fatalf("a new write of a C1 ID = %v, want INVALID_ID", err)
	}
	if n, err := sp.Forget(ctx, rec.ID); n != 1 || err != nil {
		t.Fatalf("Forget of a legacy memory = %d, %v", n, err)
	}
}
