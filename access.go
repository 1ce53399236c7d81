package engram

import (
	"context"
	"sync"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// accessTracker accumulates recall statistics in memory so that a recall never writes to
// disk: Store.flushAccess folds them into the access bucket in one transaction per
// interval.
type accessTracker struct {
	mu       sync.Mutex
	pending  map[string]accessDelta // recorded since the last flush began
	inflight map[string]accessDelta // taken by a flush that has not committed yet
}

type accessDelta struct {
	last int64 // Unix nanoseconds
	n    uint32
}

func (a *accessTracker) init() { a.pending = make(map[string]accessDelta) }

// touch records one access of each id at now.
func (a *accessTracker) touch(ids []string, now int64) {
	a.mu.Lock()
	for _, id := range ids {
		d := a.pending[id]
		d.last = max(d.last, now)
		d.n++
		a.pending[id] = d
	}
	a.mu.Unlock()
}

// peek returns what is recorded for id but not yet on disk.
func (a *accessTracker) peek(id string) accessDelta {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, f := a.pending[id], a.inflight[id]
	return accessDelta{last: max(d.last, f.last), n: d.n + f.n}
}

// take moves pending deltas to inflight and returns them for a flush.
func (a *accessTracker) take() map[string]accessDelta {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) == 0 {
		return nil
	}
	a.inflight = a.pending
	a.pending = make(map[string]accessDelta)
	return a.inflight
}

// settle ends a flush: on success the inflight deltas are on disk, on failure they go back
// to pending for the next attempt.
func (a *accessTracker) settle(ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok {
		for id, f := range a.inflight {
			d := a.pending[id]
			a.pending[id] = accessDelta{last: max(d.last, f.last), n: d.n + f.n}
		}
	}
	a.inflight = nil
}

// forget discards the statistics of a forgotten memory. Callers run it inside their write
// transaction: a flush reads the inflight map inside its own, and bbolt serializes the two.
func (a *accessTracker) forget(id string) {
	a.mu.Lock()
	delete(a.pending, id)
	delete(a.inflight, id)
	a.mu.Unlock()
}

// reset discards pending statistics (of a dropped space).
func (a *accessTracker) reset() {
	a.mu.Lock()
	a.pending = make(map[string]accessDelta)
	a.mu.Unlock()
}

func (a *accessTracker) pendingLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending) + len(a.inflight)
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

// flushAccess writes every space's pending access statistics in one transaction. Entries of
// memories forgotten meanwhile are dropped; the transaction is not fsync'd separately from
// the store's durability setting, as the statistics are best-effort.
func (s *Store) flushAccess() error {
	s.flushMu.Lock() // one flush at a time: each owns the trackers' inflight maps
	defer s.flushMu.Unlock()
	s.mu.Lock()
	work := make(map[*Space]map[string]accessDelta)
	for _, sp := range s.spaces {
		if m := sp.access.take(); m != nil {
			work[sp] = m
		}
	}
	s.mu.Unlock()
	if len(work) == 0 {
		return nil
	}
	err := s.update(context.Background(), func(tx *bolt.Tx) error {
		for sp, deltas := range work {
			b, ok := openSpaceTx(tx, &sp.names)
			if !ok {
				continue // dropped
			}
			acc := b.access
			for id, d := range deltas {
				key := []byte(id)
				if b.keyOf(id) == nil {
					continue // forgotten
				}
				var cur codec.Access
				if raw := acc.Get(key); raw != nil {
					cur, _ = codec.DecodeAccess(raw) // a damaged entry restarts from zero
				}
				cur.Last = max(cur.Last, d.last)
				cur.Count += d.n
				if err := acc.Put(key, codec.EncodeAccess(cur)); err != nil {
					return err
				}
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
