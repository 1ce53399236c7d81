package engram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// RepairReport is what Store.Repair did.
type RepairReport struct {
	// Spaces lists the spaces Repair rebuilt something of; empty when every space was sound.
	Spaces  []SpaceRepair
	Elapsed time.Duration
}

// SpaceRepair is the repair of one space.
type SpaceRepair struct {
	Name string
	// Problems counts what the audit found: records the ID map did not lead back to,
	// entries leading nowhere, and records their own key did not find (a damaged tree).
	Problems int
	// Records is how many records were copied into a rebuilt records tree (0 when the
	// tree was sound and kept).
	Records int
	// Entries is the size of the rebuilt ID map (IDs that do not carry their record's
	// number; generated IDs need no entry).
	Entries int
	// Duplicates counts older records of IDs stored twice (by writes a damaged map
	// misled), deleted: the newest write of each ID is kept.
	Duplicates int
	// Quarantined lists where the damaged structures were set aside: sub-buckets of the
	// "engram.quarantine" bucket. Their pages are never read or reused again.
	Quarantined []string
}

// Repair audits every space's structures that carry no checksum — its ID map and the
// B+tree pages of its records — and rebuilds each one found damaged, from the records
// themselves, which carry their IDs and checksums. Open audits the ID map and Check both
// (see Store.Check); a space either found damaged reads correctly through a map rebuilt
// in memory but refuses writes with CORRUPT until Repair.
//
// A damaged records tree is copied record by record, in key order, into a fresh tree (in
// transactions of about 32 MiB, so the copy needs no memory the size of the space); the
// ID map is rebuilt from the records, and where a damaged map led a write to store an ID
// twice, the newest record of the ID is kept and the older ones deleted. Damaged
// structures are set aside in the "engram.quarantine" bucket instead of deleted: deleting
// a bucket frees every page it points at, and a damaged page may point at pages of other
// data. Their space stays in the file until it is compacted. Records that fail their
// checksum are copied as they are (Check lists them; Get of one reports CORRUPT).
//
// Repair needs a store opened read-write (READ_ONLY otherwise) and serves other calls
// meanwhile; a repaired space takes writes again when its repair is done. A ctx that ends
// stops Repair between transactions; running it again finishes the job.
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
		r, err := sp.repair(ctx)
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

// treeProblems counts the records their own key does not find: a lookup descends by the
// branch pages' separator keys, a walk does not, so a damaged separator shows as a record
// the walk sees and the lookup misses (or finds elsewhere).
func treeProblems(b spaceTx) (n int, example string) {
	defer func() {
		if r := recover(); r != nil {
			n++
			example = fmt.Sprintf("a lookup fails on a damaged page (%v)", r)
		}
	}()
	c := b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if g := b.recs.Get(k); len(g) != len(v) || (len(g) > 0 && &g[0] != &v[0]) {
			if n++; example == "" {
				example = fmt.Sprintf("record %x is not found by its key", k)
			}
		}
	}
	return n, example
}

// repair is Repair of one space: a read-only audit first (most spaces are sound), then
// the rebuilds, then the in-memory side in the space's turn.
func (sp *Space) repair(ctx context.Context) (SpaceRepair, error) {
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
	if sp.Dim() == 0 {
		return r, nil
	}
	var idProblems, treeN int
	var treeEx string
	if err := sp.store.view(func(tx *bolt.Tx) error {
		b, ok := openSpaceTx(tx, &sp.names)
		if ok {
			idProblems, _ = fullIDAudit(b)
			treeN, treeEx = treeProblems(b)
		}
		return nil
	}); err != nil {
		return r, storageErr(op, sp.name, err)
	}
	d := sp.damage.Load()
	if idProblems == 0 && treeN == 0 && d == nil {
		return r, nil
	}
	r.Problems = idProblems + treeN
	if d != nil {
		r.Problems = max(r.Problems, problemsOf(d.ids))
	}
	if treeN > 0 || (d != nil && d.tree != "") {
		// Writes stop while the tree is copied (they would go to the old one).
		sp.turn.exclusive(func() { sp.markDamaged(nil, nil, max(treeEx, "found by Repair")) })
		for _, kind := range []string{kindRecords, kindTiers} {
			n, where, err := sp.rebuildTree(ctx, kind)
			if err != nil {
				return r, err
			}
			if kind == kindRecords {
				r.Records = n
			}
			r.Quarantined = append(r.Quarantined, where)
		}
	}
	var drops tierChange
	err = sp.store.update(ctx, func(tx *bolt.Tx) error {
		b, ok := openSpaceTx(tx, &sp.names) // not sp.buckets: that refuses writes to this space
		if !ok {
			return newErr(CodeSpaceNotFound, op, sp.name, "space was dropped", nil)
		}
		r.Entries, r.Duplicates, drops = 0, 0, tierChange{}
		if n, _ := fullIDAudit(b); n == 0 {
			return nil // a rebuilt tree led the map right
		}
		fix, dropped := rebuildIDs(b, sp.Dim())
		where, err := quarantine(tx, sp.names.ids, time.Now().UnixNano())
		if err != nil {
			return err
		}
		nb, err := tx.CreateBucket(sp.names.ids)
		if err != nil {
			return err
		}
		need := make([]string, 0, len(fix.byID))
		for id, seq := range fix.byID {
			if !isImplicit([]byte(id), seq) {
				need = append(need, id)
			}
		}
		slices.Sort(need)
		for _, id := range need {
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
		r.Entries, r.Duplicates, drops = len(need), len(fix.dups), dropped
		r.Quarantined = append(r.Quarantined, where)
		return nil
	})
	if err != nil {
		return r, writeErr(ctx, op, sp.name, err)
	}
	sp.turn.exclusive(func() {
		// The older records of IDs stored twice leave memory, unless the load or Check
		// already took them out.
		var c tierChange
		var prev map[uint64]bool
		if d := sp.damage.Load(); d != nil && d.ids != nil {
			prev = d.ids.dups
		}
		for t, seqs := range drops.out {
			for _, seq := range seqs {
				if !prev[seq] {
					c.drop(seq, tier.Tier(t))
				}
			}
		}
		for _, d := range drops.postDel {
			if !prev[d.seq] {
				c.postDel = append(c.postDel, d)
			}
		}
		sp.applyChange(&c)
		sp.damage.Store(nil)
	})
	sp.store.log.Warn("space repaired", "space", sp.name, "problems", r.Problems, "records_copied", r.Records,
		"id_entries", r.Entries, "duplicates_deleted", r.Duplicates, "quarantined", r.Quarantined)
	return r, nil
}

// rebuildTree copies the space's bucket of kind, entry by entry in key order, into a fresh
// bucket built under "engram.repair" — in transactions of about repairChunk bytes — then,
// in one last transaction, sets the old bucket aside in the quarantine and moves the new
// one in its place. A copy interrupted (ctx, a crash) is started over by the next Repair.
// Called with the space refusing writes, so the bucket does not change meanwhile.
func (sp *Space) rebuildTree(ctx context.Context, kind string) (copied int, where string, err error) {
	const op = OpRepair
	name := spaceBucket(sp.name, kind)
	s := sp.store
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		tmp, err := tx.CreateBucketIfNotExists(bucketRepair)
		if err != nil {
			return err
		}
		if err := tmp.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) { // our own leftover
			return err
		}
		_, err = tmp.CreateBucket(name)
		return err
	}); err != nil {
		return 0, "", writeErr(ctx, op, sp.name, err)
	}
	var after []byte // last key copied
	for {
		more := false
		err := s.update(ctx, func(tx *bolt.Tx) error {
			src, dst := tx.Bucket(name), tx.Bucket(bucketRepair).Bucket(name)
			if src == nil {
				return newErr(CodeSpaceNotFound, op, sp.name, "space was dropped", nil)
			}
			dst.FillPercent = 1 // keys arrive in order: pack the pages full
			c := src.Cursor()
			k, v := c.First()
			if after != nil {
				// Seek descends by the damaged separators: trust it only if it lands on the
				// last key copied, else walk from the start.
				if k, _ = c.Seek(after); !bytes.Equal(k, after) {
					for k, v = c.First(); k != nil && bytes.Compare(k, after) <= 0; k, v = c.Next() {
					}
				} else {
					k, v = c.Next()
				}
			}
			size := 0
			for ; k != nil; k, v = c.Next() {
				if size >= repairChunk {
					more = true
					break
				}
				if err := dst.Put(k, v); err != nil {
					return err
				}
				after = append(after[:0], k...)
				size += len(k) + len(v)
				copied++
			}
			return nil
		})
		if err != nil {
			return copied, "", writeErr(ctx, op, sp.name, err)
		}
		if !more {
			break
		}
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if where, err = quarantine(tx, name, time.Now().UnixNano()); err != nil {
			return err
		}
		if err := tx.MoveBucket(name, tx.Bucket(bucketRepair), nil); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketRepair) // empty now: nothing else is built there at once
	})
	if err != nil {
		return copied, "", writeErr(ctx, op, sp.name, err)
	}
	return copied, where, nil
}

// repairChunk is about how many bytes of a tree rebuildTree copies per transaction.
const repairChunk = 32 << 20

// bucketRepair holds the trees Repair is building; bucketQuarantine the structures it set
// aside (never read or reused again: see Store.Repair).
var (
	bucketRepair     = []byte("engram.repair")
	bucketQuarantine = []byte("engram.quarantine")
)

// quarantine moves the top-level bucket name into the quarantine bucket, in a sub-bucket
// named by stamp (made unique), without reading any of its pages, and returns where it
// went ("" when there was no such bucket).
func quarantine(tx *bolt.Tx, name []byte, stamp int64) (string, error) {
	if tx.Bucket(name) == nil {
		return "", nil
	}
	q, err := tx.CreateBucketIfNotExists(bucketQuarantine)
	if err != nil {
		return "", err
	}
	for q.Bucket(fmt.Appendf(nil, "%020d", stamp)) != nil {
		stamp++
	}
	slot, err := q.CreateBucket(fmt.Appendf(nil, "%020d", stamp))
	if err != nil {
		return "", err
	}
	if err := tx.MoveBucket(name, nil, slot); err != nil {
		return "", err
	}
	return fmt.Sprintf("%020d/%s", stamp, name), nil
}
