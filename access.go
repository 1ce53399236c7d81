package engram

import (
	"context"
	"sync"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// accessTracker holds a space's recall statistics (LastAccess, AccessCount) in memory,
// where they are the truth while the store is open: a recall reads and counts them without
// touching the file, and a hit costs one record lookup, not three. The access bucket is
// their persistence: Open loads it, and Store.flushAccess writes the entries changed since
// the last flush, in one transaction per interval, so a recall never writes to disk. Only
// memories recalled at least once (or restored with statistics) have an entry, about 40
// bytes of memory each.
type accessTracker struct {
	mu       sync.Mutex
	stats    map[uint64]accessStat // by record sequence number
	dirty    map[uint64]string     // seq → ID of entries changed since the last flush began
	flushing map[uint64]string     // taken by a flush that has not committed yet
	noFlush  bool                  // a read-only store: statistics live in memory only
}

// accessStat is one memory's recall statistics.
type accessStat struct {
	last  int64 // Unix nanoseconds of the last recall, 0 if never
	count uint32
}

func (a *accessTracker) init(readOnly bool) {
	a.stats = make(map[uint64]accessStat)
	a.dirty = make(map[uint64]string)
	a.noFlush = readOnly
}

// load reads the access bucket at Open. An entry whose memory is gone (a crash between a
// forget and nothing: forget deletes both in one transaction, so only damage) is skipped;
// a damaged entry reads as "never accessed", as it always did.
func (a *accessTracker) load(b spaceTx) error {
	c := b.access.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		key := b.keyOf(string(k))
		if key == nil {
			continue
		}
		seq, err := codec.KeySeq(key)
		if err != nil {
			continue
		}
		if acc, err := codec.DecodeAccess(v); err == nil {
			a.stats[seq] = accessStat{last: acc.Last, count: acc.Count}
		}
	}
	return nil
}

// get returns the statistics of seq.
func (a *accessTracker) get(seq uint64) accessStat {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats[seq]
}

// lookup fills out[i] with the statistics of seqs[i], under one lock.
func (a *accessTracker) lookup(seqs []uint64, out []accessStat) {
	a.mu.Lock()
	for i, s := range seqs {
		out[i] = a.stats[s]
	}
	a.mu.Unlock()
}

// touch records one access at now of each memory (seqs[i] has ID ids[i]) and returns the
// new statistics in out.
func (a *accessTracker) touch(seqs []uint64, ids []string, now int64, out []accessStat) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, s := range seqs {
		st := a.stats[s]
		st.last = max(st.last, now)
		st.count++
		a.stats[s] = st
		out[i] = st
		if !a.noFlush {
			a.dirty[s] = ids[i]
		}
	}
}

// set installs restored statistics for seq (written to the bucket by the restore's own
// transaction).
func (a *accessTracker) set(seq uint64, st accessStat) {
	a.mu.Lock()
	a.stats[seq] = st
	a.mu.Unlock()
}

// forget discards the statistics of a forgotten memory. Forget calls it inside its write
// transaction: a flush reads the maps inside its own, and bbolt serializes the two.
func (a *accessTracker) forget(seq uint64) {
	a.mu.Lock()
	delete(a.stats, seq)
	delete(a.dirty, seq)
	delete(a.flushing, seq)
	a.mu.Unlock()
}

// move carries the statistics of a replaced memory to its new record (an upsert keeps
// them: the bucket is keyed by ID, which does not change).
func (a *accessTracker) move(from, to uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.stats[from]
	if !ok {
		return
	}
	a.stats[to] = st
	delete(a.stats, from)
	for _, m := range []map[uint64]string{a.dirty, a.flushing} {
		if id, ok := m[from]; ok {
			m[to] = id
			delete(m, from)
		}
	}
}

// take moves the dirty entries to flushing and returns them for a flush.
func (a *accessTracker) take() map[uint64]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.dirty) == 0 {
		return nil
	}
	a.flushing = a.dirty
	a.dirty = make(map[uint64]string)
	return a.flushing
}

// settle ends a flush: on success the flushing entries are on disk, on failure they are
// dirty again for the next attempt.
func (a *accessTracker) settle(ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok {
		for s, id := range a.flushing {
			a.dirty[s] = id
		}
	}
	a.flushing = nil
}

// reset discards everything (a dropped space).
func (a *accessTracker) reset() {
	a.mu.Lock()
	a.stats = make(map[uint64]accessStat)
	a.dirty = make(map[uint64]string)
	a.flushing = nil
	a.mu.Unlock()
}

// pendingLen counts the entries not yet on disk.
func (a *accessTracker) pendingLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.dirty) + len(a.flushing)
}

// write puts the statistics of entries into the access bucket of b. The values are
// copied under the tracker's lock and written without it, so recalls do not wait for the
// flush's page writes; forgets cannot interleave (they are write transactions too).
func (a *accessTracker) write(b spaceTx, entries map[uint64]string) error {
	type entry struct {
		seq uint64
		id  string
		st  accessStat
	}
	a.mu.Lock()
	list := make([]entry, 0, len(entries))
	for seq, id := range entries {
		if st, ok := a.stats[seq]; ok { // else forgotten
			list = append(list, entry{seq, id, st})
		}
	}
	a.mu.Unlock()
	for _, e := range list {
		if b.keyOf(e.id) == nil {
			// A recall touched it while it was being forgotten: the entry would outlive
			// its memory. (One replaced meanwhile keeps its statistics, as an upsert does:
			// the entry is the ID's, and the apply step moves them in memory.)
			a.mu.Lock()
			delete(a.stats, e.seq)
			a.mu.Unlock()
			continue
		}
		if err := b.access.Put([]byte(e.id), codec.EncodeAccess(codec.Access{Last: e.st.last, Count: e.st.count})); err != nil {
			return err
		}
	}
	return nil
}

// flushLoop flushes access statistics every interval until Close.
func (s *Store) flushLoop(every time.Duration) {
	defer close(s.flushDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.flushStop:
			return
		case <-t.C:
			if err := s.flushAccess(); err != nil {
				s.log.Warn("access statistics flush failed; will retry", "err", err)
			}
		}
	}
}

// flushAccess writes every space's changed access statistics in one transaction. Entries
// of memories forgotten meanwhile are gone from the tracker and skipped; the transaction
// is not fsync'd separately from the store's durability setting, as the statistics are
// best-effort.
func (s *Store) flushAccess() error {
	s.flushMu.Lock() // one flush at a time: each owns the trackers' flushing maps
	defer s.flushMu.Unlock()
	work := make(map[*Space]map[uint64]string)
	for _, sp := range s.spaceList() {
		if m := sp.access.take(); m != nil {
			work[sp] = m
		}
	}
	if len(work) == 0 {
		return nil
	}
	err := s.update(context.Background(), func(tx *bolt.Tx) error {
		for sp, entries := range work {
			b, ok := openSpaceTx(tx, &sp.names)
			if !ok {
				continue // dropped
			}
			if err := sp.access.write(b, entries); err != nil {
				return err
			}
		}
		return nil
	})
	for sp := range work {
		sp.access.settle(err == nil)
	}
	if err != nil {
		return storageErr(OpFlushAccess, "", err)
	}
	return nil
}
