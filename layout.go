package engram

import (
	"bytes"
	"errors"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store layout in bbolt:
//
//	engram              format → storeFormat
//	spaces              <name> → space config (codec.Config)
//	<name>/records      seq (u64 BE) → record (codec.Record); append-only, pages packed full
//	<name>/ids          memory ID → seq, for IDs that do not lead to their record themselves:
//	                    caller-supplied ones, and generated ones whose memory was replaced
//	                    (a generated ID carries its record's seq: see keyOf)
//	<name>/access       memory ID → codec.Access (recall statistics, flushed lazily)
//	<name>/snapshot     the graph index's snapshot, in chunks (see snapshot.go)
//	<name>/warm         the warm tier's index's snapshot, in chunks (see warm.go); tiered
//	                    spaces only
//	<name>/tiers        seq → tier byte: the current tier of every memory not in the tier
//	                    its record was written to (migration rewrites these nine bytes)
//	<name>/checkpoints  name → an application's value (Space.SetCheckpoint); created on
//	                    first use
//	engram.quarantine   <stamp>/<bucket>: structures that failed an audit, set aside by
//	                    Store.Repair and DropSpace rather than freed (repair.go); created
//	                    on first use, never read
//	engram.repair       <bucket>: a tree Store.Repair is copying, moved into place when done
//
// A space's buckets are top-level rather than nested under its name: a commit rewrites
// every page on the path from the root to each changed leaf, and each level of nesting adds
// one such page. Measured with one memory per fsync'd transaction, flat buckets commit
// about 5% faster. Space names cannot contain '/', so the names never collide.
var (
	bucketMeta   = []byte("engram")
	bucketSpaces = []byte("spaces")
	keyFormat    = []byte("format")
)

// storeFormat is the version of the layout above. Format 1 kept every ID in the ids
// bucket; format 2 leaves out generated IDs that carry their seq. A format-1 file is a
// valid format-2 file, so Open upgrades the marker (and older code refuses the result).
const storeFormat = 2

const (
	kindRecords  = "records"
	kindIDs      = "ids"
	kindAccess   = "access"
	kindSnapshot = "snapshot"
	kindTiers    = "tiers"
	kindChecks   = "checkpoints"
	kindWarm     = "warm"
)

// spaceKinds are every bucket a space may own.
var spaceKinds = []string{kindRecords, kindIDs, kindAccess, kindSnapshot, kindTiers, kindChecks, kindWarm}

func spaceBucket(space, kind string) []byte { return []byte(space + "/" + kind) }

// bucketNames are a space's bucket names, built once per space rather than per call.
type bucketNames struct {
	recs, ids, access, snapshot, tiers, checkpoints, warm []byte
}

func namesOf(space string) bucketNames {
	return bucketNames{
		recs:        spaceBucket(space, kindRecords),
		ids:         spaceBucket(space, kindIDs),
		access:      spaceBucket(space, kindAccess),
		snapshot:    spaceBucket(space, kindSnapshot),
		tiers:       spaceBucket(space, kindTiers),
		checkpoints: spaceBucket(space, kindChecks),
		warm:        spaceBucket(space, kindWarm),
	}
}

// spaceTx is a space's buckets within one transaction.
type spaceTx struct {
	recs, ids, access, tiers *bolt.Bucket
	// fix, when set, is the space's ID map rebuilt from its records because the stored one
	// failed its audit (audit.go): keyOf answers from it.
	fix *idRepair
}

// openSpaceTx returns the space's buckets in tx, or ok = false when the space does not
// exist (was dropped).
func openSpaceTx(tx *bolt.Tx, n *bucketNames) (spaceTx, bool) {
	b := spaceTx{recs: tx.Bucket(n.recs), ids: tx.Bucket(n.ids), access: tx.Bucket(n.access), tiers: tx.Bucket(n.tiers)}
	return b, b.recs != nil && b.ids != nil && b.access != nil && b.tiers != nil
}

// keyOf returns the record key of the memory with this ID, or nil. An entry in the ids
// bucket wins; otherwise a generated ID names its record's seq (ids.Seq), and the record
// there must hold that very ID. A generated ID's memory is thus found without a map entry,
// which spares every write of generated IDs one B+tree (ids.FillSeq). Only the record's ID
// is compared: a record damaged elsewhere (its ID bytes intact) is still found, and
// reported when read; one whose header or ID bytes are damaged is not found by its ID
// (Check reports it).
func (b spaceTx) keyOf(id string) []byte {
	if b.fix != nil {
		if seq, ok := b.fix.byID[id]; ok {
			return codec.SeqKey(seq)
		}
		// Not among the readable records: the stored map may still lead to a damaged one
		// (whose read then reports CORRUPT), or to another memory (readMemory reports that).
	}
	if k := b.ids.Get([]byte(id)); k != nil {
		return k
	}
	seq, ok := ids.Seq(id)
	if !ok {
		return nil
	}
	k := codec.SeqKey(seq)
	if v := b.recs.Get(k); v != nil && bytes.Equal(codec.PeekID(v), []byte(id)) {
		return k
	}
	return nil
}

// tierOf returns the current tier of the record at key (rec is its value): its entry in
// the tiers bucket, else the tier it was written to.
func (b spaceTx) tierOf(key, rec []byte) tier.Tier {
	if v := b.tiers.Get(key); len(v) == 1 {
		return tier.Tier(v[0])
	}
	return writtenTier(rec)
}

// writtenTier is the tier a record was written to (hot when too short to say).
func writtenTier(rec []byte) tier.Tier {
	t, _ := codec.PeekTier(rec)
	return tier.Tier(t)
}

// setTier records that the memory at key now lives in t.
func (b spaceTx) setTier(key, rec []byte, t tier.Tier) error {
	if writtenTier(rec) == t {
		return b.tiers.Delete(key)
	}
	return b.tiers.Put(key, []byte{byte(t)})
}

// createSpace writes a new space's config and buckets.
func createSpace(tx *bolt.Tx, name string, cfg codec.Config) error {
	for _, kind := range []string{kindRecords, kindIDs, kindAccess, kindTiers} {
		if _, err := tx.CreateBucket(spaceBucket(name, kind)); err != nil {
			return err
		}
	}
	return putConfig(tx, name, cfg)
}

func putConfig(tx *bolt.Tx, name string, cfg codec.Config) error {
	return tx.Bucket(bucketSpaces).Put([]byte(name), codec.EncodeConfig(cfg))
}

// deleteSpace removes a space's config and every bucket it owns.
func deleteSpace(tx *bolt.Tx, name string) error {
	for _, kind := range spaceKinds {
		if err := tx.DeleteBucket(spaceBucket(name, kind)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
	}
	return tx.Bucket(bucketSpaces).Delete([]byte(name))
}

// tierWalk returns a function that gives the tier of each record of a walk over the
// records in key order: its entry in the tiers bucket, else the tier it was written to.
// Both buckets are keyed by sequence number, so one merge walk pairs them instead of a
// lookup per record.
func (b spaceTx) tierWalk() func(k, v []byte) tier.Tier {
	tc := b.tiers.Cursor()
	tk, tv := tc.First()
	return func(k, v []byte) tier.Tier {
		for tk != nil && bytes.Compare(tk, k) < 0 {
			tk, tv = tc.Next()
		}
		if tk != nil && bytes.Equal(tk, k) && len(tv) == 1 {
			return tier.Tier(tv[0])
		}
		return writtenTier(v)
	}
}
