package engram

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// Expiry. A memory with an ExpiresAt (its own, or the space's WithTTL default applied when
// it was written) is invisible to every read from that instant on — Recall, Get, All,
// the Where scans and so export — and the migrator removes it in the background, in
// batches of one transaction each (Space.Migrate does it on demand), counting the
// removals in SpaceStats.Expired. The expiry is part of the record (record v2), so it
// survives reopen, export and import.
//
// WithTTLRefresh makes a recall extend the expiry of each memory it returns to at least
// the recall's time plus the TTL, as LangGraph's refresh-on-read does. The extension is
// not written to the record: a memory's effective expiry is the later of its record's
// and its last recall plus the TTL, and the last recall is the LastAccess statistic the
// access tracker already keeps in memory and flushes (access.go). A recall thus still
// writes nothing, and the extension survives a reopen as LastAccess does — up to the
// last flush, so a crash can shorten an extension by at most the flush interval.

// WithTTL gives the space a default time-to-live: a memory written without an ExpiresAt
// expires d after it is written (by BatchRemember, Archive, Restore and everything built on
// them). Memories written before the option was set, or with their own ExpiresAt, are not
// affected. d must be positive and is stored with the space (config v2); reopening the
// space with another TTL fails with INVALID_OPTION.
func WithTTL(d time.Duration) SpaceOption {
	return func(o *spaceOptions) error {
		if d <= 0 {
			return fmt.Errorf("TTL must be positive, got %v", d)
		}
		o.ttl, o.ttlSet = d, true
		return nil
	}
}

// WithTTLRefresh makes every recall extend the expiry of each memory it returns to at
// least now + the space's TTL (refresh-on-read): memories in use stay, unused ones
// expire. It needs WithTTL, and applies to every memory of the space that has an expiry,
// whether it came from the TTL or was given. Get and the scans do not refresh.
func WithTTLRefresh() SpaceOption {
	return func(o *spaceOptions) error {
		o.ttlRefresh, o.ttlRefreshSet = true, true
		return nil
	}
}

// expiryIndex schedules the removal of a space's expiring memories: a min-heap of
// (expiry, seq) over every memory that has one. Entries are not taken out when their
// memory is forgotten or replaced — the removal transaction checks each record before it
// removes it — so the heap holds every expiring memory plus the forgotten ones whose time
// has not come, 16 bytes each. A map beside it would find stale entries, at three times
// the memory.
type expiryIndex struct {
	mu      sync.Mutex
	h       expiryHeap
	removed uint64 // memories removed on expiry since open (guarded by mu)
}

type expiryEntry struct {
	at  int64 // Unix nanoseconds
	seq uint64
}

type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// add schedules memories, in their apply step.
func (x *expiryIndex) add(es []expiryEntry) {
	if len(es) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range es {
		heap.Push(&x.h, e)
	}
}

// any reports whether the space may hold memories with an expiry.
func (x *expiryIndex) any() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.h) > 0
}

// due takes up to max entries whose time is at or before now. With refresh, an entry of a
// memory recalled since is put back at its extended time instead.
func (x *expiryIndex) due(now int64, max int, refresh func(seq uint64, at int64) int64) []uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	var seqs []uint64
	for len(x.h) > 0 && x.h[0].at <= now && len(seqs) < max {
		e := heap.Pop(&x.h).(expiryEntry)
		if refresh != nil {
			if at := refresh(e.seq, e.at); at > now {
				heap.Push(&x.h, expiryEntry{at, e.seq})
				continue
			}
		}
		seqs = append(seqs, e.seq)
	}
	return seqs
}

// requeue puts back entries a failed removal did not take.
func (x *expiryIndex) requeue(seqs []uint64, at int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range seqs {
		heap.Push(&x.h, expiryEntry{at, s})
	}
}

func (x *expiryIndex) reset() {
	x.mu.Lock()
	x.h = nil
	x.mu.Unlock()
}

func (x *expiryIndex) removedCount() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.removed
}

// expiresAt is a memory's effective expiry in Unix nanoseconds (0: never): its record's,
// extended by its last recall under WithTTLRefresh.
func (sp *Space) expiresAt(recExpires int64, lastAccess int64) int64 {
	if recExpires == 0 || !sp.ttlRefresh || lastAccess == 0 {
		return recExpires
	}
	return max(recExpires, addNanos(lastAccess, sp.ttl))
}

// expired reports whether the record v at seq has expired at now. The access statistics
// are consulted only when the record's own expiry has passed and a recall may have
// extended it.
func (sp *Space) expired(v *codec.View, seq uint64, now int64) bool {
	if v.Expires == 0 || v.Expires > now {
		return false
	}
	if sp.ttlRefresh {
		return sp.expiresAt(v.Expires, sp.access.get(seq).last) <= now
	}
	return true
}

// expiryTime converts an effective expiry to a Memory's ExpiresAt.
func expiryTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// expireBatch is how many expired memories one removal transaction takes.
const expireBatch = 1000

// expire removes the space's expired memories, expireBatch per transaction, and returns
// how many it removed. Called by Migrate (and so by the background migrator).
func (sp *Space) expire(ctx context.Context) (int, error) {
	if sp.store.opts.readOnly {
		return 0, nil
	}
	var refresh func(uint64, int64) int64
	if sp.ttlRefresh {
		refresh = func(seq uint64, at int64) int64 { return sp.expiresAt(at, sp.access.get(seq).last) }
	}
	total := 0
	for ctx.Err() == nil {
		now := time.Now().UnixNano()
		seqs := sp.expiry.due(now, expireBatch, refresh)
		if len(seqs) == 0 {
			break
		}
		n, err := sp.removeExpired(ctx, seqs, now)
		total += n
		if err != nil {
			sp.expiry.requeue(seqs, now)
			return total, err
		}
	}
	return total, nil
}

// removeExpired removes, in one transaction, those of seqs whose records exist and have
// expired at now (the others were forgotten, replaced or — under refresh — recalled since
// they were chosen).
func (sp *Space) removeExpired(ctx context.Context, seqs []uint64, now int64) (int, error) {
	var c tierChange
	n := 0
	req := &writeReq{ctx: ctx}
	req.write = func(tx *bolt.Tx) error {
		c, n = tierChange{}, 0 // the transaction may rerun
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			key := codec.SeqKey(seq)
			rec := b.recs.Get(key)
			if rec == nil {
				continue
			}
			view, err := codec.Parse(rec)
			if err != nil || !sp.expired(&view, seq, now) {
				continue // a damaged record stays for Check to report
			}
			if err := sp.removeRecord(b, &c, seq, key, rec, view.ID(), &view); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	apply := func() {
		sp.applyChange(&c)
		sp.expiry.mu.Lock()
		sp.expiry.removed += uint64(n)
		sp.expiry.mu.Unlock()
	}
	if err := sp.commitAndApply(req, apply); err != nil {
		return 0, writeErr(ctx, OpMigrate, sp.name, err)
	}
	return n, nil
}

// expiryOnWrite is the record expiry of a memory written at now with ExpiresAt given:
// its own, else the space's TTL from now, else none.
func (sp *Space) expiryOnWrite(given time.Time, now time.Time) int64 {
	switch {
	case !given.IsZero():
		if ns := given.UnixNano(); ns != 0 {
			return ns
		}
		return 1 // the instant 1970-01-01T00:00:00Z itself: 0 means never, 1 ns later is as good
	case sp.ttl > 0:
		return addNanos(now.UnixNano(), sp.ttl)
	}
	return 0
}

// addNanos is a + d for a time a and a duration d ≥ 0, saturating at the largest time.
func addNanos(a, d int64) int64 {
	if a > math.MaxInt64-d {
		return math.MaxInt64
	}
	return a + d
}
