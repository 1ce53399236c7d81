package engram

// Post-conditions of TestStress, checked on the quiet store and again after reopening.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// verifyStore checks the post-conditions of every space of s (the store of the waves, or
// the reopened file).
func (h *stress) verifyStore(s *Store, when string) {
	t := h.t
	var alive []string
	for _, spec := range stressSpecs {
		inc := h.latestOf(spec.name)
		if inc.dropped.Load() {
			// Dropped and not re-created (Close won the race): gone from the file too.
			if _, err := s.LookupSpace(spec.name); CodeOf(err) != CodeSpaceNotFound {
				t.Errorf("%s: %s was dropped last, LookupSpace: %v", when, spec.name, err)
			}
			continue
		}
		alive = append(alive, spec.name)
		sp, err := s.LookupSpace(spec.name)
		if err != nil {
			t.Errorf("%s: LookupSpace(%s): %v", when, spec.name, err)
			continue
		}
		if s == h.s && sp != inc.sp {
			t.Errorf("%s: %s resolves to a handle that is not its newest incarnation", when, spec.name)
		}
		h.verifySpace(sp, inc, when)
	}
	slices.Sort(alive)
	if got := s.Spaces(); !slices.Equal(got, alive) {
		t.Errorf("%s: Spaces() = %v, want %v", when, got, alive)
	}
	var names []string
	for _, ss := range s.Stats().Spaces {
		names = append(names, ss.Name)
	}
	if !slices.Equal(names, alive) {
		t.Errorf("%s: Store.Stats lists %v, want %v", when, names, alive)
	}
	if v := s.Expvar().String(); !strings.HasPrefix(v, "{") {
		t.Errorf("%s: Expvar: %.80s", when, v)
	}
	// Every older incarnation was dropped.
	h.regMu.Lock()
	for _, inc := range h.incs {
		if inc != h.latest[inc.name] && !inc.dropped.Load() {
			t.Errorf("%v was replaced but never dropped", inc)
		}
	}
	h.regMu.Unlock()
}

// verifySpace checks one space against itself and against the history of inc.
func (h *stress) verifySpace(sp *Space, inc *incarnation, when string) {
	t := h.t
	ctx := context.Background()
	where := fmt.Sprintf("%s, %v", when, inc)

	// Disk, counters and index agree.
	stored := map[string]Memory{}
	for m, err := range sp.All(ctx) {
		if err != nil {
			t.Errorf("%s: scan: %v", where, err)
			return
		}
		if _, dup := stored[m.ID]; dup {
			t.Errorf("%s: %s stored twice", where, m.ID)
		}
		stored[m.ID] = m
		h.checkVersion(where, inc, m)
	}
	n := len(stored)
	st := sp.Stats()
	if sp.Len() != n || st.Len != n || st.IndexLen != n || st.Tiers[Hot] != int64(n) {
		t.Errorf("%s: %d memories on disk, Len %d, Stats.Len %d, IndexLen %d, hot tier %d", where, n, sp.Len(), st.Len, st.IndexLen, st.Tiers[Hot])
	}
	h.verifyInternals(sp, where)

	// Every stored memory is the exact nearest neighbour of its own embedding.
	for id, m := range stored {
		hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1, Exact: true, MinSimilarity: -1})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != id || hits[0].Similarity < 0.9999 {
			t.Errorf("%s: %s is not the exact rank-1 hit of its own embedding: %v %v", where, id, hitIDs(hits), err)
		}
	}

	// The history: each key holds the effect of an operation that may have committed last.
	h.histMu.Lock()
	defer h.histMu.Unlock()
	keys := map[string][]stressOp{}
	for k, ops := range h.hist {
		if k.inc == inc {
			keys[k.id] = ops
		}
	}
	for id := range stored {
		if _, ok := keys[id]; !ok {
			t.Errorf("%s: %s is stored but no acknowledged write of this incarnation made it (phantom, or a leftover of a dropped one)", where, id)
		}
	}
	determinate, present, wrong := 0, 0, 0
	for id, ops := range keys {
		m, ok := stored[id]
		if ok {
			present++
		}
		cands := lastCandidates(ops)
		if len(cands) == 1 {
			determinate++
		}
		match := false
		for _, c := range cands {
			if c.del && !ok || !c.del && ok && m.Content == c.content {
				match = true
			}
		}
		if !match {
			if wrong++; wrong > 10 {
				continue
			}
			state := "absent"
			if ok {
				state = fmt.Sprintf("%q", m.Content)
			}
			t.Errorf("%s: %s is %s; the operations that may have committed last: %s", where, id, state, describeOps(cands))
		}
	}
	if wrong > 10 {
		t.Errorf("%s: %d keys in all contradict their history", where, wrong)
	}
	t.Logf("%s: %d memories (index %s), %d keys in its history (%d determinate, %d present)",
		where, n, st.Index, len(keys), determinate, present)
	if when == "after reopen" && st.Index == "hnsw" && stressSpecOf(inc.name).kind == IndexHNSW && n > 0 && st.IndexLoadedFrom != "snapshot" {
		t.Errorf("%s: graph loaded from %q, want the snapshot Close saved", where, st.IndexLoadedFrom)
	}
}

// lastCandidates returns the operations that may have committed last: X such that no other
// operation started after X ended.
func lastCandidates(ops []stressOp) []stressOp {
	var first, second uint64 // the two largest starts
	for _, op := range ops {
		switch {
		case op.start > first:
			first, second = op.start, first
		case op.start > second:
			second = op.start
		}
	}
	var out []stressOp
	for _, op := range ops {
		maxOther := first
		if op.start == first {
			maxOther = second
		}
		if op.end > maxOther {
			out = append(out, op)
		}
	}
	return out
}

func describeOps(ops []stressOp) string {
	var b strings.Builder
	for _, op := range ops {
		if op.del {
			fmt.Fprintf(&b, "[forget %d..%d] ", op.start, op.end)
		} else {
			fmt.Fprintf(&b, "[write %q %d..%d] ", op.content, op.start, op.end)
		}
	}
	return b.String()
}

// verifyInternals checks, inside the package: the index holds exactly the records' keys, the
// ID map and the records agree one to one, access statistics exist only for stored IDs, and
// the HNSW graph's invariants hold.
func (h *stress) verifyInternals(sp *Space, where string) {
	t := h.t
	_, idx, _ := sp.state()
	if idx == nil {
		t.Errorf("%s: no index", where)
		return
	}
	inIndex := map[uint64]bool{}
	for k := range idx.Keys() {
		inIndex[k] = true
	}
	recs := map[uint64]string{}
	err := sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		if err := b.recs.ForEach(func(k, v []byte) error {
			seq, err := codec.KeySeq(k)
			if err != nil {
				return err
			}
			view, err := codec.Parse(v)
			if err != nil {
				return err
			}
			recs[seq] = view.ID()
			return nil
		}); err != nil {
			return err
		}
		if err := b.ids.ForEach(func(k, v []byte) error {
			seq, err := codec.KeySeq(v)
			if err != nil {
				return err
			}
			if recs[seq] != string(k) {
				t.Errorf("%s: ID map sends %s to record %d, which holds %q", where, k, seq, recs[seq])
			}
			return nil
		}); err != nil {
			return err
		}
		for seq, id := range recs { // each record is found by its ID (map entry or the ID itself)
			if k := b.keyOf(id); k == nil || !bytes.Equal(k, codec.SeqKey(seq)) {
				t.Errorf("%s: ID %s leads to %x, not to its record %d", where, id, k, seq)
			}
		}
		return b.access.ForEach(func(k, _ []byte) error {
			if b.keyOf(string(k)) == nil {
				t.Errorf("%s: access statistics for %s, which is not stored", where, k)
			}
			return nil
		})
	})
	if err != nil {
		t.Errorf("%s: reading the buckets: %v", where, err)
	}
	var notIndexed, noRecord []string
	for seq, id := range recs {
		if !inIndex[seq] {
			notIndexed = append(notIndexed, fmt.Sprintf("%d (%s)", seq, id))
		}
	}
	for k := range inIndex {
		if _, ok := recs[k]; !ok {
			noRecord = append(noRecord, strconv.FormatUint(k, 10))
		}
	}
	if len(notIndexed) > 0 {
		t.Errorf("%s: %d records are not in the index: %s", where, len(notIndexed), firstFew(notIndexed))
	}
	if len(noRecord) > 0 {
		t.Errorf("%s: the index holds %d keys without a record: %s", where, len(noRecord), firstFew(noRecord))
	}
	if g, ok := idx.(*index.HNSW); ok {
		if err := g.Verify(); err != nil {
			t.Errorf("%s: graph invariants: %v", where, err)
		}
	}
}

func firstFew(s []string) string {
	if len(s) > 5 {
		return strings.Join(s[:5], ", ") + ", ..."
	}
	return strings.Join(s, ", ")
}

// checkDroppedHandles: every dropped incarnation's handle refuses calls with SPACE_NOT_FOUND.
func (h *stress) checkDroppedHandles() {
	ctx := context.Background()
	h.regMu.Lock()
	var dropped []*incarnation
	for _, inc := range h.incs {
		if inc.dropped.Load() {
			dropped = append(dropped, inc)
		}
	}
	h.regMu.Unlock()
	for _, inc := range dropped {
		sp := inc.sp
		_, e1 := sp.Get(ctx, "c-1")
		_, e2 := sp.Recall(ctx, Query{Embedding: unit(1), K: 1})
		_, e3 := sp.Remember(ctx, Memory{Embedding: randUnit(rand.New(rand.NewPCG(1, 2)), stressDim)})
		_, e4 := sp.Forget(ctx, "c-1")
		_, e5 := sp.BatchUpdate(ctx, []Update{{ID: "c-1"}})
		e6 := sp.Snapshot(ctx)
		var e7 error
		for _, err := range sp.All(ctx) {
			e7 = err
		}
		for i, err := range []error{e1, e2, e3, e4, e5, e6, e7} {
			if CodeOf(err) != CodeSpaceNotFound {
				h.t.Errorf("dropped %v, call %d: %v, want SPACE_NOT_FOUND", inc, i+1, err)
			}
		}
	}
	h.t.Logf("%d dropped handles refuse calls", len(dropped))
}

// checkClosed: after Close, calls fail with CLOSED (never hang or panic); Close again is a
// no-op.
func (h *stress) checkClosed(s *Store) {
	t := h.t
	ctx := context.Background()
	inc := h.latestOf(stressSpecs[0].name)
	sp := inc.sp
	v := randUnit(rand.New(rand.NewPCG(3, 4)), stressDim)
	_, e1 := sp.Remember(ctx, Memory{Embedding: v})
	_, e2 := sp.Recall(ctx, Query{Embedding: v, K: 1})
	_, e3 := sp.Get(ctx, "o0-1")
	_, e4 := sp.Forget(ctx, "o0-1")
	_, e5 := s.Space(ctx, "new-space")
	_, e6 := s.LookupSpace(stressSpecs[0].name)
	e7 := s.DropSpace(ctx, stressSpecs[0].name)
	e8 := s.Sync()
	_, e9 := sp.BatchRecall(ctx, []Query{{Embedding: v, K: 1}})
	b := sp.NewBatcher(BatcherOptions{MaxDelay: time.Millisecond})
	_, e10 := b.Remember(ctx, Memory{Embedding: v})
	b.Close()
	e11 := sp.Snapshot(ctx)
	for i, err := range []error{e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11} {
		if CodeOf(err) != CodeClosed {
			t.Errorf("after Close, call %d: %v, want CLOSED", i+1, err)
		}
	}
	st := sp.NewStream(StreamOptions{MaxDelay: time.Millisecond})
	if _, err := st.Send(ctx, Memory{Embedding: v}); CodeOf(err) != CodeClosed {
		t.Errorf("Send on a new stream of a closed store: %v, want CLOSED", err)
	}
	st.Close()
	for a := range st.Acks() {
		t.Errorf("stream ack of a stream that accepted nothing: %+v", a)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Batchers started on spaces whose feeds were already closed: close them too.
	h.regMu.Lock()
	feeds := slices.Clone(h.feeds)
	h.regMu.Unlock()
	for _, b := range feeds {
		b.Close()
	}
}

// stressLog counts Error-level log records: the store logs at that level only when
// something is wrong that no caller would otherwise see (a failed index insert).
type stressLog struct {
	errs  atomic.Int64
	mu    sync.Mutex
	first string
}

func (l *stressLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *stressLog) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *stressLog) WithGroup(string) slog.Handler                 { return l }

func (l *stressLog) Handle(_ context.Context, r slog.Record) error {
	if l.errs.Add(1) == 1 {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		l.mu.Lock()
		l.first = b.String()
		l.mu.Unlock()
	}
	return nil
}

func (l *stressLog) getFirst() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}
