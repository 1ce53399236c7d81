package engram

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/engram-go/engram/index"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Index snapshots. A space on the HNSW graph saves the graph's links (not its vectors,
// which its records already hold) in the space's "snapshot" bucket, so that Open restores
// the graph instead of rebuilding it. Any snapshot is safe to load: Open fills the graph's
// vectors from the records, drops nodes whose records are gone and inserts records newer
// than the snapshot; a damaged one (checksum, structure) is ignored and the graph rebuilt.
//
// Layout of <space>/snapshot (and of <space>/warm, the warm tier's index: warm.go): meta =
// u64 length, u32 chunks, u64 watermark (the records' sequence at snapshot time);
// <u32 BE chunk number> = up to snapshotChunk bytes.

var (
	keyMeta = []byte("meta")
)

const snapshotChunk = 4 << 20

// Snapshot saves the space's graph index — and, in a tiered space, the warm tier's index
// — so that the next Open loads them instead of rebuilding them. Close does this for every
// space whose indexes changed; call it yourself to bound the rebuild work after a crash.
// The exact index needs no snapshot (it is rebuilt by copying vectors).
//
// A ctx that ends before the snapshot is committed fails it with CANCELED or
// DEADLINE_EXCEEDED and leaves the previous snapshot in place.
func (sp *Space) Snapshot(ctx context.Context) error {
	done, err := sp.enter(OpSnapshot)
	if err != nil {
		return err
	}
	defer done()
	if sp.store.opts.readOnly {
		return newErr(CodeReadOnly, OpSnapshot, sp.name, "", nil)
	}
	if err := ctx.Err(); err != nil {
		return ctxErr(OpSnapshot, sp.name, err)
	}
	return sp.snapshot(ctx)
}

// snapshot writes the hot graph and the warm tier's index, each if it changed since its
// last snapshot.
func (sp *Space) snapshot(ctx context.Context) error {
	if err := sp.snapshotGraph(ctx); err != nil {
		return err
	}
	return sp.snapshotWarm(ctx)
}

// snapshotGraph writes the graph if it changed since the last snapshot.
func (sp *Space) snapshotGraph(ctx context.Context) error {
	const op = OpSnapshot
	var (
		g       *index.HNSW
		changes uint64
		data    []byte
		err     error
	)
	start := time.Now()
	sp.turn.exclusive(func() { // no write is half applied while the graph is encoded
		_, idx, _ := sp.state()
		var ok bool
		if g, ok = idx.(*index.HNSW); !ok {
			return
		}
		sp.mu.RLock()
		saved := sp.snapChanges
		sp.mu.RUnlock()
		if changes = g.Changes(); changes == saved {
			g = nil
			return
		}
		data, err = g.MarshalBinary()
	})
	if g == nil {
		return nil
	}
	if err != nil {
		return newErr(CodeStorage, op, sp.name, "encode", err)
	}
	if err := sp.saveChunks(ctx, sp.names.snapshot, data); err != nil {
		return err
	}
	sp.mu.Lock()
	sp.snapChanges = changes
	sp.mu.Unlock()
	sp.store.log.Info("index snapshot saved", "space", sp.name, "bytes", len(data), "elapsed", time.Since(start))
	return nil
}

// saveChunks stores an index snapshot, data, as the bucket name (putChunks) in a write of
// its own. Not through sp.buckets: a snapshot writes only its own bucket, so it is not
// refused in a space an audit found damaged (audit.go). A ctx that ends inside is CANCELED
// or DEADLINE_EXCEEDED, not STORAGE.
func (sp *Space) saveChunks(ctx context.Context, name, data []byte) error {
	err := sp.store.update(ctx, func(tx *bolt.Tx) error {
		b, ok := openSpaceTx(tx, &sp.names)
		if !ok {
			return newErr(CodeSpaceNotFound, opNone, sp.name, "space was dropped", nil)
		}
		return putChunks(tx, name, data, b.recs.Sequence())
	})
	if err != nil {
		return writeErr(ctx, OpSnapshot, sp.name, err)
	}
	return nil
}

// putChunks replaces the bucket name with data in chunks of snapshotChunk bytes and a
// meta entry (length, chunks, and seq: the records' sequence at snapshot time).
func putChunks(tx *bolt.Tx, name, data []byte, seq uint64) error {
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return err
	}
	sb, err := tx.CreateBucket(name)
	if err != nil {
		return err
	}
	sb.FillPercent = 1
	chunks := 0
	for off := 0; off < len(data); off += snapshotChunk {
		end := min(off+snapshotChunk, len(data))
		if err := sb.Put(binary.BigEndian.AppendUint32(nil, uint32(chunks)), data[off:end]); err != nil {
			return err
		}
		chunks++
	}
	meta := binary.LittleEndian.AppendUint64(nil, uint64(len(data)))
	meta = binary.LittleEndian.AppendUint32(meta, uint32(chunks))
	meta = binary.LittleEndian.AppendUint64(meta, seq)
	return sb.Put(keyMeta, meta)
}

// readSnapshot returns a copy of the space's snapshot bytes, or nil when there is none or
// its framing is damaged (the snapshot's own checksum covers its content).
func readSnapshot(tx *bolt.Tx, space string) ([]byte, error) {
	return readChunks(tx, spaceBucket(space, kindSnapshot))
}

// readChunks returns a copy of the bytes putChunks stored in bucket name, nil when there
// is no such bucket, or an error when its framing is damaged.
func readChunks(tx *bolt.Tx, name []byte) ([]byte, error) {
	sb := tx.Bucket(name)
	if sb == nil {
		return nil, nil
	}
	meta := sb.Get(keyMeta)
	if len(meta) != 20 {
		return nil, fmt.Errorf("snapshot meta of %d bytes", len(meta))
	}
	size := binary.LittleEndian.Uint64(meta)
	chunks := binary.LittleEndian.Uint32(meta[8:])
	if size > uint64(chunks)*snapshotChunk {
		return nil, fmt.Errorf("snapshot of %d bytes in %d chunks", size, chunks)
	}
	data := make([]byte, 0, size)
	for i := uint32(0); i < chunks; i++ {
		c := sb.Get(binary.BigEndian.AppendUint32(nil, i))
		if c == nil || len(data)+len(c) > int(size) {
			return nil, fmt.Errorf("snapshot chunk %d missing or too long", i)
		}
		data = append(data, c...)
	}
	if uint64(len(data)) != size {
		return nil, fmt.Errorf("snapshot has %d of %d bytes", len(data), size)
	}
	return data, nil
}
