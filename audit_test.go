package engram

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// boltPage is one page of a bbolt B+tree as the file holds it (bbolt's format, version 2:
// a 16-byte header — id, flags, count, overflow — then 16-byte elements).
type boltPage struct {
	off    int // byte offset in the file
	branch bool
	count  int
	// Of each element: where its key (and, in a leaf, its value) lies in the file, and for
	// a branch the child page.
	keys, vals [][2]int
	children   []uint64
}

// bucketPages returns the pages of the B+tree of the top-level bucket name, root first,
// read from the file's bytes (the tests damage them precisely).
func bucketPages(t *testing.T, path string, name []byte) []boltPage {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(name).Root())
		return nil
	})
	pageSize := db.Info().PageSize
	db.Close()
	if root == 0 {
		t.Fatalf("bucket %s is inline", name)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var pages []boltPage
	var walk func(id uint64)
	walk = func(id uint64) {
		off := int(id) * pageSize
		p := boltPage{off: off, branch: le.Uint16(data[off+8:])&1 != 0, count: int(le.Uint16(data[off+10:]))}
		for i := 0; i < p.count; i++ {
			e := off + 16 + 16*i
			if p.branch {
				pos, ksize := int(le.Uint32(data[e:])), int(le.Uint32(data[e+4:]))
				p.keys = append(p.keys, [2]int{e + pos, e + pos + ksize})
				p.children = append(p.children, le.Uint64(data[e+8:]))
			} else {
				pos, ksize, vsize := int(le.Uint32(data[e+4:])), int(le.Uint32(data[e+8:])), int(le.Uint32(data[e+12:]))
				p.keys = append(p.keys, [2]int{e + pos, e + pos + ksize})
				p.vals = append(p.vals, [2]int{e + pos + ksize, e + pos + ksize + vsize})
			}
		}
		pages = append(pages, p)
		for _, c := range p.children {
			walk(c)
		}
	}
	walk(root)
	return pages
}

// TestDamagedIDMap: damage aimed at the pages of a space's ID map (the one structure
// without a checksum) — a flipped key, a value pointing at another record, entries cut
// off, a zeroed leaf, a flipped branch key — used to give wrong answers silently: Get
// said NOT_FOUND while Recall returned the memory, Forget did nothing, and storing the ID
// again created a second memory with it. Now Open's audit finds it: reads are right
// (through a map rebuilt from the records), writes to that space are refused with
// CORRUPT (other spaces write on), Check reports it, and Store.Repair rebuilds the map,
// after which writes work and nothing is duplicated.
func TestDamagedIDMap(t *testing.T) {
	orig, want := corruptFixture(t)
	ctx := context.Background()
	for _, space := range []string{"flat", "graph"} {
		pages := bucketPages(t, orig, spaceBucket(space, kindIDs))
		var leaves, branches []boltPage
		for _, p := range pages {
			if p.branch {
				branches = append(branches, p)
			} else {
				leaves = append(leaves, p)
			}
		}
		if len(leaves) < 2 || len(branches) == 0 {
			t.Fatalf("%s: the ID map has %d leaves, %d branches: too small to aim at", space, len(leaves), len(branches))
		}
		leaf := leaves[len(leaves)/2]
		damages := map[string]func(b []byte){
			"flipped key": func(b []byte) { b[leaf.keys[3][0]+1] ^= 0x04 },
			"value pointing at another record": func(b []byte) {
				copy(b[leaf.vals[5][0]:leaf.vals[5][1]], b[leaf.vals[6][0]:leaf.vals[6][1]])
			},
			"entries cut off": func(b []byte) {
				binary.LittleEndian.PutUint16(b[leaf.off+10:], uint16(leaf.count/2))
			},
			"zeroed leaf": func(b []byte) { clear(b[leaf.off : leaf.off+4096]) },
			"flipped branch key": func(b []byte) {
				k := branches[0].keys[len(branches[0].keys)-1]
				b[k[0]] ^= 0x01
			},
		}
		for name, damage := range damages {
			t.Run(space+"/"+name, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "d.db")
				copyWith(t, orig, p, func(b []byte) []byte { damage(b); return b })
				s, err := Open(p)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				sp, _ := s.LookupSpace(space)
				mems := want[space]
				// Reads are right: every memory is found by its ID, recalled once, listed once.
				for id, m := range mems {
					got, err := sp.Get(ctx, id)
					if err != nil || !sameMemory(got, m) {
						t.Fatalf("Get(%s) = %v", id, err)
					}
				}
				seen := map[string]bool{}
				for m, err := range sp.All(ctx) {
					if err != nil || seen[m.ID] {
						t.Fatalf("All: %v, %s listed twice: %v", err, m.ID, seen[m.ID])
					}
					seen[m.ID] = true
				}
				if len(seen) != len(mems) {
					t.Fatalf("All lists %d of %d", len(seen), len(mems))
				}
				// Writes to the damaged space are refused, and leave no trace.
				var some string
				for id := range mems {
					some = id
					break
				}
				_, err = sp.Remember(ctx, Memory{ID: some, Embedding: mems[some].Embedding})
				if CodeOf(err) != CodeCorrupt || IsRetryable(err) || !strings.Contains(err.Error(), "Repair") {
					t.Fatalf("storing an ID again in a space with a damaged map = %v, want CORRUPT naming Repair", err)
				}
				if _, err := sp.Forget(ctx, some); CodeOf(err) != CodeCorrupt {
					t.Fatalf("Forget in a space with a damaged map = %v, want CORRUPT", err)
				}
				other, _ := s.LookupSpace(map[string]string{"flat": "graph", "graph": "flat"}[space])
				if _, err := other.Remember(ctx, Memory{ID: "elsewhere", Embedding: make16(2)}); err != nil {
					t.Fatalf("a write to the healthy space: %v", err)
				}
				if rep, err := s.Check(ctx); err != nil || rep.OK {
					t.Fatalf("Check of a damaged ID map: %v, OK = %v", err, rep.OK)
				}

				rr, err := s.Repair(ctx)
				if err != nil || len(rr.Spaces) != 1 || rr.Spaces[0].Name != space || rr.Spaces[0].Problems == 0 {
					t.Fatalf("Repair = %+v, %v", rr, err)
				}
				if rep, err := s.Check(ctx); err != nil || !rep.OK {
					t.Fatalf("Check after Repair: %v %+v", err, rep)
				}
				res, err := sp.BatchRemember(ctx, []Memory{{ID: some, Content: "again", Embedding: mems[some].Embedding}})
				if err != nil || !res.Items[0].Replaced {
					t.Fatalf("storing an ID again after Repair: %v %+v", err, res.Items[0])
				}
				if n, err := sp.Forget(ctx, some); n != 1 || err != nil {
					t.Fatalf("Forget after Repair = %d, %v", n, err)
				}
				if sp.Len() != len(mems)-1 {
					t.Fatalf("%d memories after Repair, one forgotten, of %d", sp.Len(), len(mems))
				}
				s.Close()
				s2, err := Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
				if rep, err := s2.Check(ctx); err != nil || !rep.OK {
					t.Fatalf("Check after reopening the repaired store: %v %+v", err, rep)
				}
				sp2, _ := s2.LookupSpace(space)
				if _, err := sp2.Remember(ctx, Memory{ID: "new", Embedding: make16(3)}); err != nil {
					t.Fatalf("a write after reopening the repaired store: %v", err)
				}
			})
		}
	}
}

// TestIDStoredTwice: a store where a damaged map already misled a write — two records with
// one ID — shows the ID once (Get, Recall, All: the newest write) and Repair deletes the
// older record.
func TestIDStoredTwice(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s := openHooked(t, path)
	sp := mustSpace(t, s, "d", WithIndex(IndexHNSW))
	r := rand.New(rand.NewPCG(8, 1))
	mems := synthetic(r, 200, 8, "d")
	mustStore(t, sp, mems)
	dup := mems[7]
	newer := randUnit(r, 8)
	// What the old code did when the map missed dup.ID: a second record, and the map
	// entry now leading to it.
	if err := s.update(ctx, func(tx *boltTx) error {
		b, _ := openSpaceTx(tx, &sp.names)
		rec := codec.Record{Confidence: 1, Created: 1, Vec: newer, ID: dup.ID, Content: "newer"}
		if err := b.recs.Put(codec.SeqKey(5000), codec.Encode(nil, &rec)); err != nil {
			return err
		}
		return b.ids.Put([]byte(dup.ID), codec.SeqKey(5000))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openHooked(t, path)
	sp, _ = s.LookupSpace("d")
	if m, err := sp.Get(ctx, dup.ID); err != nil || m.Content != "newer" {
		t.Fatalf("Get of the ID stored twice: %+v %v", m, err)
	}
	// count returns the most hits of the ID in one recall, and how often All lists it.
	count := func() (hits, listed int) {
		for _, q := range [][]float32{newer, dup.Embedding} {
			hs, _ := sp.Recall(ctx, Query{Embedding: q, K: 20, MinSimilarity: -1})
			n := 0
			for _, h := range hs {
				if h.Memory.ID == dup.ID {
					n++
				}
			}
			hits = max(hits, n)
		}
		for m := range sp.All(ctx) {
			if m.ID == dup.ID {
				listed++
			}
		}
		return hits, listed
	}
	if hits, listed := count(); hits != 1 || listed != 1 {
		t.Fatalf("the ID stored twice: %d hits in one recall, listed %d times", hits, listed)
	}
	rr, err := s.Repair(ctx)
	if err != nil || len(rr.Spaces) != 1 || rr.Spaces[0].Duplicates != 1 {
		t.Fatalf("Repair = %+v, %v", rr, err)
	}
	if hits, listed := count(); hits != 1 || listed != 1 || sp.Len() != len(mems) {
		t.Fatalf("after Repair: %d hits, listed %d, %d memories", hits, listed, sp.Len())
	}
	if rep, err := s.Check(ctx); err != nil || !rep.OK {
		t.Fatalf("Check after Repair: %v %+v", err, rep)
	}
}

// TestRepairOfASoundStore: Repair of a sound store changes nothing and reports nothing;
// on a read-only store it is READ_ONLY.
func TestRepairOfASoundStore(t *testing.T) {
	orig, _ := corruptFixture(t)
	before, _ := os.ReadFile(orig)
	s, err := Open(orig, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Repair(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Repair of a read-only store: %v", err)
	}
	s.Close()
	s, err = Open(orig)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := s.Repair(context.Background())
	if err != nil || len(rr.Spaces) != 0 {
		t.Fatalf("Repair of a sound store: %+v %v", rr, err)
	}
	s.Close()
	s, _ = Open(orig, WithReadOnly())
	s.Close()
	after, _ := os.ReadFile(orig)
	if len(before) != len(after) {
		t.Fatalf("the file changed size: %d → %d", len(before), len(after))
	}
}

// TestDamagedRecordsTree: a damaged separator key in a branch page of a space's records
// tree sends lookups of some records into the wrong leaf (a walk still sees them): Get
// says a memory's record is missing, a scan could list records twice, and a write into
// that tree made other records unreachable. Check finds it (one lookup per record), the
// space then refuses writes, and Store.Repair copies the records into a fresh tree: every
// memory is found again and writes work.
func TestDamagedRecordsTree(t *testing.T) {
	orig, want := corruptFixture(t)
	ctx := context.Background()
	for _, space := range []string{"flat", "graph"} {
		pages := bucketPages(t, orig, spaceBucket(space, kindRecords))
		if !pages[0].branch || len(pages[0].keys) < 4 {
			t.Fatalf("%s: the records tree has no branch page to damage", space)
		}
		for _, sep := range []int{1, len(pages[0].keys) / 2, len(pages[0].keys) - 1} {
			t.Run(fmt.Sprintf("%s/separator %d", space, sep), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "d.db")
				copyWith(t, orig, p, func(b []byte) []byte {
					k := pages[0].keys[sep]
					b[k[1]-1] ^= 0x0c // the seq's low byte: a few records misdirected
					return b
				})
				s, err := Open(p)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				sp, _ := s.LookupSpace(space)
				listed := map[string]int{}
				for m, err := range sp.All(ctx) {
					if err != nil {
						t.Fatal(err)
					}
					if listed[m.ID]++; listed[m.ID] > 1 {
						t.Fatalf("All lists %s twice", m.ID)
					}
				}
				rep, err := s.Check(ctx)
				if err != nil || rep.OK {
					t.Fatalf("Check of a damaged records tree: %v, OK %v", err, rep.OK)
				}
				if _, err := sp.Remember(ctx, Memory{ID: "new", Embedding: make16(5)}); CodeOf(err) != CodeCorrupt {
					t.Fatalf("a write to a space whose records tree Check found damaged: %v, want CORRUPT", err)
				}
				rr, err := s.Repair(ctx)
				if err != nil || len(rr.Spaces) != 1 || rr.Spaces[0].Records != len(want[space]) {
					t.Fatalf("Repair = %+v, %v", rr, err)
				}
				if rep, err := s.Check(ctx); err != nil || !rep.OK {
					t.Fatalf("Check after Repair: %v %+v", err, rep)
				}
				for id, m := range want[space] {
					if got, err := sp.Get(ctx, id); err != nil || !sameMemory(got, m) {
						t.Fatalf("Get(%s) after Repair: %v", id, err)
					}
				}
				if _, err := sp.Remember(ctx, Memory{ID: "new", Embedding: make16(5)}); err != nil {
					t.Fatalf("a write after Repair: %v", err)
				}
				s.Close()
				s2, err := Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
				if rep, err := s2.Check(ctx); err != nil || !rep.OK {
					t.Fatalf("Check after reopening the repaired store: %v %+v", err, rep)
				}
			})
		}
	}
}
