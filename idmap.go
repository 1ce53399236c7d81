package engram

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// The ID map (the <space>/ids bucket) is the one structure of a space without a checksum
// of its own: records carry CRCs, the map is plain bbolt keys and values. A damaged page
// of it answers lookups wrongly without any error — an ID not found although its record
// is there (Get says NOT_FOUND while Recall returns the memory, Forget does nothing, and
// storing the ID again creates a second record with the same ID), or an ID found at
// another memory's record. So Open audits it against the records it walks anyway: every
// record's ID must lead back to that record. A space whose audit fails is served from a
// map rebuilt in memory from the records (reads are right), refuses every write with
// CORRUPT (a write would change the damaged pages: bbolt frees the pages a damaged page
// points at, which may belong to other data), and waits for Store.Repair.

// idRepair is the ID map of a space whose stored map failed the audit, rebuilt from its
// records: what keyOf answers instead of the stored map.
type idRepair struct {
	byID     map[string]uint64 // each readable record's ID → its seq (the newest, for an ID stored twice)
	problems int               // records whose ID does not lead back to them through the stored map
	example  string            // one of them, for messages
	dups     map[uint64]bool   // older records of an ID stored twice, left out of the indexes
}

// idAudit checks, record by record, that the stored ID map leads each ID to its record.
type idAudit struct {
	problems int
	example  string
}

// check verifies that the ID of the record at key leads back to it: its map entry names
// the key, or it has none and the ID carries the key's seq (a generated ID: see keyOf).
// A lookup that panics on a damaged page counts as a problem.
func (a *idAudit) check(b spaceTx, key []byte, seq uint64, id []byte) {
	if leadsBack(b, key, seq, id) {
		return
	}
	if a.problems++; a.example == "" {
		a.example = fmt.Sprintf("record %d (id %q)", seq, id)
	}
}

func leadsBack(b spaceTx, key []byte, seq uint64, id []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if e := b.ids.Get(id); e != nil {
		return bytes.Equal(e, key)
	}
	s, implicit := ids.Seq(string(id))
	return implicit && s == seq
}

// rebuildIDs reads every record of the space and returns the ID map they describe, with
// the older records of IDs stored twice and, of those, the ones the load put in a tier in
// memory (to be taken out again).
func rebuildIDs(b spaceTx, dim int) (*idRepair, tierChange) {
	type entry struct {
		seq    uint64
		t      tier.Tier
		loaded bool
	}
	seen := map[string]entry{}
	fix := &idRepair{byID: map[string]uint64{}, dups: map[uint64]bool{}}
	var out tierChange
	walk := b.tierWalk()
	vec := make([]float32, dim)
	damaged := map[string]uint64{}
	c := b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, err := codec.KeySeq(k)
		if err != nil {
			continue
		}
		view, err := codec.Parse(v)
		if err != nil {
			// A damaged record keeps its ID's entry when the ID bytes still read as one, so
			// Get of it reports CORRUPT and storing the ID again replaces it.
			if id := codec.PeekID(v); len(id) > 0 && utf8.Valid(id) {
				damaged[string(id)] = seq
			}
			continue
		}
		t := walk(k, v)
		loaded := t.Valid() && view.Dim == dim
		if loaded {
			view.Embedding(vec)
			loaded = usableEmbedding(vec) == nil
		}
		id := view.ID()
		if prev, ok := seen[id]; ok { // records are in seq order: prev is the older write
			fix.dups[prev.seq] = true
			if prev.loaded {
				out.drop(prev.seq, prev.t)
			}
		}
		seen[id] = entry{seq, t, loaded}
		fix.byID[id] = seq
	}
	for id, seq := range damaged {
		if _, ok := fix.byID[id]; !ok {
			fix.byID[id] = seq
		}
	}
	return fix, out
}

// auditLoad runs at the end of a space's load: when the audit found problems, the space
// gets its rebuilt map, and the older of any two records with one ID leaves the indexes
// (a recall must never return two hits with one ID).
func (l *spaceLoad) auditLoad() {
	if l.audit.problems == 0 {
		return
	}
	sp := l.sp
	fix, out := rebuildIDs(l.b, l.cfg.Dim)
	fix.problems, fix.example = l.audit.problems, l.audit.example
	sp.applyChange(&out)
	sp.idFix.Store(fix)
	sp.store.log.Error("the space's ID map is damaged: reads use a map rebuilt from the records, writes are refused until Store.Repair",
		"space", sp.name, "problems", fix.problems, "example", fix.example, "ids_stored_twice", len(fix.dups))
}

// idMapDamaged is the error of a write to a space whose ID map failed its audit.
func (sp *Space) idMapDamaged(fix *idRepair) *Error {
	return newErr(CodeCorrupt, opNone, sp.name, fmt.Sprintf("the space's ID map is damaged (%d records it does not lead to, e.g. %s); "+
		"writes are refused until Store.Repair rebuilds it from the records", fix.problems, fix.example), nil)
}

// bucketQuarantine holds buckets set aside by Repair and DropSpace because their pages
// failed an audit: they are moved here rather than deleted, since deleting a bucket frees
// every page its pages point at, and a damaged page may point at pages of other data.
// Their pages stay allocated (the file does not shrink) and are never read again.
var bucketQuarantine = []byte("engram.quarantine")

// quarantine moves the top-level bucket name into the quarantine bucket, under a bucket
// named by stamp (made unique), without reading any of its pages.
func quarantine(tx *bolt.Tx, name []byte, stamp int64) error {
	if tx.Bucket(name) == nil {
		return nil
	}
	q, err := tx.CreateBucketIfNotExists(bucketQuarantine)
	if err != nil {
		return err
	}
	for q.Bucket(fmt.Appendf(nil, "%020d", stamp)) != nil {
		stamp++
	}
	slot, err := q.CreateBucket(fmt.Appendf(nil, "%020d", stamp))
	if err != nil {
		return err
	}
	return tx.MoveBucket(name, nil, slot)
}

// RepairReport is what Store.Repair did.
type RepairReport struct {
	// Spaces lists the spaces whose ID map was rebuilt; empty when every map was sound.
	Spaces  []SpaceRepair
	Elapsed time.Duration
}

// SpaceRepair is the repair of one space's ID map.
type SpaceRepair struct {
	Name string
	// Problems counts the records the damaged map did not lead back to.
	Problems int
	// Entries is the size of the rebuilt map (IDs that do not carry their record's
	// number; generated IDs need no entry).
	Entries int
	// Duplicates counts older records of IDs stored twice (by writes the damaged map
	// misled), deleted: the newest write of each ID is kept.
	Duplicates int
	// Quarantined names where the damaged map was set aside: bucket "engram.quarantine",
	// then this sub-bucket. Its pages are never read or reused.
	Quarantined string
}

// Repair audits the ID map of every space against its records and rebuilds each one that
// does not lead every record's ID back to that record — the damage Open detects, after
// which the space refuses writes with CORRUPT (reads stay right: they use a map rebuilt
// in memory). The rebuilt map comes from the records, which carry their IDs and
// checksums; where a damaged map led a write to store an ID twice, the newest record of
// the ID is kept and the older ones are deleted. The damaged map is set aside in the
// "engram.quarantine" bucket instead of deleted: deleting would free every page it points
// at, and a damaged page may point at pages of other data. Its space stays in the file
// (it is small: the map's pages) until the file is compacted.
//
// Each space is repaired in one transaction; a space whose map is sound is only read.
// Damaged records (failed checksums) are not Repair's business: they stay out of the
// indexes, Check lists them, and Get of one reports CORRUPT. Repair works on a store
// opened read-write (READ_ONLY otherwise) while it serves other calls; the repaired
// spaces accept writes again when it returns.
func (s *Store) Repair(ctx context.Context) (RepairReport, error) {
	const op = OpRepair
	start := time.Now()
	var rep RepairReport
	if !s.gate.enter() {
		return rep, newErr(CodeClosed, op, "", "", nil)
	}
	defer s.gate.exit()
	if s.opts.readOnly {
		return rep, newErr(CodeReadOnly, op, "", "", nil)
	}
	spaces := s.spaceList()
	slices.SortFunc(spaces, func(a, b *Space) int { return strings.Compare(a.name, b.name) })
	for _, sp := range spaces {
		if err := ctx.Err(); err != nil {
			return rep, ctxErr(op, "", err)
		}
		r, err := sp.repairIDs(ctx)
		if err != nil {
			return rep, err
		}
		if r.Problems > 0 {
			rep.Spaces = append(rep.Spaces, r)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// auditIDs counts the records of the space whose ID the stored map does not lead back to.
func auditIDs(b spaceTx) idAudit {
	var a idAudit
	c := b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, err := codec.KeySeq(k)
		if err != nil {
			continue
		}
		if view, err := codec.Parse(v); err == nil {
			a.check(b, k, seq, view.IDBytes())
		}
	}
	return a
}

// repairIDs is Repair of one space: a read-only audit first (most maps are sound), then,
// if it failed, the audit again and the rebuild in one write transaction, and the
// in-memory side in the space's turn.
func (sp *Space) repairIDs(ctx context.Context) (SpaceRepair, error) {
	const op = OpRepair
	r := SpaceRepair{Name: sp.name}
	done, err := sp.enter(op)
	if err != nil {
		if CodeOf(err) == CodeSpaceNotFound {
			return r, nil // dropped meanwhile: nothing to repair
		}
		return r, err
	}
	defer done()
	dim := sp.Dim()
	if dim == 0 {
		return r, nil
	}
	var audit idAudit
	if err := sp.store.view(func(tx *bolt.Tx) error {
		b, ok := openSpaceTx(tx, &sp.names)
		if ok {
			audit = auditIDs(b)
		}
		return nil
	}); err != nil {
		return r, storageErr(op, sp.name, err)
	}
	if audit.problems == 0 && sp.idFix.Load() == nil {
		return r, nil
	}
	var out tierChange
	err = sp.store.update(ctx, func(tx *bolt.Tx) error {
		r = SpaceRepair{Name: sp.name}
		b, ok := openSpaceTx(tx, &sp.names) // not sp.buckets: that refuses writes to this space
		if !ok {
			return newErr(CodeSpaceNotFound, op, sp.name, "space was dropped", nil)
		}
		a := auditIDs(b)
		if a.problems == 0 {
			return nil
		}
		fix, drop := rebuildIDs(b, dim)
		stamp := time.Now().UnixNano()
		if err := quarantine(tx, sp.names.ids, stamp); err != nil {
			return err
		}
		nb, err := tx.CreateBucket(sp.names.ids)
		if err != nil {
			return err
		}
		idsSorted := make([]string, 0, len(fix.byID))
		for id, seq := range fix.byID {
			if s, implicit := ids.Seq(id); !implicit || s != seq {
				idsSorted = append(idsSorted, id)
			}
		}
		slices.Sort(idsSorted)
		for _, id := range idsSorted {
			if err := nb.Put([]byte(id), codec.SeqKey(fix.byID[id])); err != nil {
				return err
			}
		}
		for seq := range fix.dups {
			k := codec.SeqKey(seq)
			if err := b.recs.Delete(k); err != nil {
				return err
			}
			if err := b.tiers.Delete(k); err != nil {
				return err
			}
		}
		r.Problems, r.Entries, r.Duplicates = a.problems, len(idsSorted), len(fix.dups)
		r.Quarantined = fmt.Sprintf("%020d/%s", stamp, sp.names.ids)
		out = drop
		return nil
	})
	if err != nil {
		return SpaceRepair{Name: sp.name}, writeErr(ctx, op, sp.name, err)
	}
	sp.turn.exclusive(func() {
		// The older records of IDs stored twice leave memory, unless the load already
		// left them out (it did when its audit failed).
		var c tierChange
		prev := sp.idFix.Load()
		for t, seqs := range out.out {
			for _, seq := range seqs {
				if prev == nil || !prev.dups[seq] {
					c.drop(seq, tier.Tier(t))
				}
			}
		}
		sp.applyChange(&c)
		sp.idFix.Store(nil)
	})
	if r.Problems > 0 {
		sp.store.log.Warn("ID map rebuilt from the records", "space", sp.name, "problems", r.Problems,
			"entries", r.Entries, "duplicates_deleted", r.Duplicates, "quarantined", r.Quarantined)
	}
	return r, nil
}
