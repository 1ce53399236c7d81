package engram

import (
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// File pages and the resident set.
//
// bbolt reads through a read-only shared mapping of the whole file, so every page a read
// touches — a record re-ranked from the warm tier, a migration reading the vectors it moves,
// a scan — stays mapped into the process and counts in its resident set (RssFile) until the
// kernel needs the memory. For a store whose point is to hold far more than fits in RAM,
// that makes the resident set grow to the file size even though only the hot tier and the
// warm codes must stay in memory. So a store with a tiered space unmaps those pages after
// the work that touched them (migration cycles, archive and full scans, Open): madvise
// MADV_DONTNEED on a shared file mapping only drops the page-table entries, the pages stay
// in the kernel's page cache, and the next read faults them back in without I/O unless the
// kernel reclaimed them meanwhile. The call runs inside a read transaction, which holds
// bbolt's mmap lock: the mapping cannot be replaced under it.

// releaseEvery bounds how often the pages are released (each release makes the next reads
// fault their pages back in).
const releaseEvery = 250 * time.Millisecond

type residency struct {
	last atomic.Int64 // Unix nanoseconds of the last release
}

// releaseFilePages unmaps the file's pages from the process when the store has a tiered
// space, at most once per releaseEvery unless force is set.
func (s *Store) releaseFilePages(force bool) {
	if s.db == nil || !s.hasTiering() {
		return
	}
	now := time.Now().UnixNano()
	last := s.resident.last.Load()
	if !force && now-last < int64(releaseEvery) {
		return
	}
	if !s.resident.last.CompareAndSwap(last, now) {
		return // another goroutine is releasing
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		dropMapping(s.db.Info().Data, tx.Size())
		return nil
	})
}

// hasTiering is lock-free: it runs inside calls that DropSpace and Close wait for.
func (s *Store) hasTiering() bool { return s.tiered.Load() > 0 }
