package engram

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/engram-go/engram/index"
	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/tier"
	bolt "go.etcd.io/bbolt"
)

// CheckReport is the result of Store.Check.
type CheckReport struct {
	// OK is true when no problem was found anywhere.
	OK bool
	// Problems found at the file level (bbolt's page consistency check).
	Problems []string
	Spaces   []SpaceCheck
	Elapsed  time.Duration
}

// SpaceCheck is the consistency of one space.
type SpaceCheck struct {
	Name     string
	Records  int      // records on disk
	IDs      int      // records that their ID leads back to (by the ID map, or the ID itself)
	Tiers    [3]int64 // records per tier, counted on disk
	IndexLen int      // vectors in the in-memory index
	// Problems lists what is inconsistent (at most maxProblems; ProblemCount has the total).
	Problems     []string
	ProblemCount int
}

const maxProblems = 50

func (c *SpaceCheck) problem(format string, args ...any) {
	c.ProblemCount++
	if len(c.Problems) < maxProblems {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
}

// Check verifies the store's consistency, reading everything: bbolt's page structure;
// for each space, that every record decodes (checksum, version, dimension, tier), that the
// ID map and the records agree both ways, that the tier counters match the records, and
// that the in-memory index holds exactly the hot records (and, for the graph, that its
// links are sound: see index.HNSW.Verify), and that the warm tier's index holds exactly
// the warm records, with codes made from them, and sound links (index.Graph8.Verify), and
// that its stored snapshot would load. It reads a consistent snapshot of the file and
// holds each space's index still while comparing; a write that commits during the check
// is re-checked before being reported. Problems are reported, not repaired: Open rebuilds
// indexes from records, and records carry checksums. One consequence follows, though: a
// space in which Check finds its ID map or its records' B+tree damaged (the structures
// without checksums, which Open audits only in part) is from then on treated as Open
// treats one whose audit failed — reads through a map rebuilt from the records, writes
// refused with CORRUPT — until Store.Repair.
func (s *Store) Check(ctx context.Context) (CheckReport, error) {
	const op = OpCheck
	start := time.Now()
	if !s.gate.enter() {
		return CheckReport{}, newErr(CodeClosed, op, "", "", nil)
	}
	defer s.gate.exit()
	var rep CheckReport
	// Walk every top-level bucket to its leaves, in this goroutine (where a damaged page
	// becomes an error): a bucket the store does not know is reported. bbolt's own
	// tx.Check is not used: it reads pages in a goroutine of its own, where a fault on a
	// damaged page id would crash the process.
	known := map[string]bool{string(bucketMeta): true, string(bucketSpaces): true,
		string(bucketQuarantine): true, string(bucketRepair): true}
	s.mu.Lock()
	for name := range s.spaces {
		for _, kind := range spaceKinds {
			known[string(spaceBucket(name, kind))] = true
		}
	}
	s.mu.Unlock()
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if !known[string(name)] {
				rep.Problems = append(rep.Problems, fmt.Sprintf("file: unknown bucket %q", name))
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
			}
			return nil
		})
	})
	if err != nil {
		rep.Problems = append(rep.Problems, "file: "+err.Error())
	}
	spaces := s.spaceList()
	slices.SortFunc(spaces, func(a, b *Space) int { return strings.Compare(a.name, b.name) }) // as Stats
	for _, sp := range spaces {
		if err := ctx.Err(); err != nil {
			return rep, ctxErr(op, "", err)
		}
		c, err := sp.check()
		if err != nil {
			return rep, err
		}
		rep.Spaces = append(rep.Spaces, c)
	}
	rep.OK = len(rep.Problems) == 0
	for _, c := range rep.Spaces {
		rep.OK = rep.OK && c.ProblemCount == 0
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// check verifies one space.
func (sp *Space) check() (SpaceCheck, error) {
	const op = OpCheck
	c := SpaceCheck{Name: sp.name}
	done, err := sp.enter(op)
	if err != nil {
		return c, err
	}
	defer done()
	var sus suspects
	var viewErr error
	var counterSuspect bool
	var found checkDamage
	var postingsSuspect bool
	sp.turn.exclusive(func() { // the indexes hold still while they are compared
		memo := sp.indexKeys(&c)
		viewErr = sp.store.view(func(tx *bolt.Tx) error {
			b, err := sp.buckets(tx)
			if err != nil {
				return err
			}
			b.fix = nil             // the stored map is what is checked
			var posted postingIndex // what the records say the postings are
			posted.init()
			sus = sp.checkRecords(b, memo, &c, &found, &posted)
			sp.checkIDMap(b, &c, &found)
			if found.ids > 0 && (sp.damage.Load() == nil || sp.damage.Load().ids == nil) {
				fix, drops := rebuildIDs(b, sp.Dim())
				fix.problems, fix.example = found.ids, found.idEx
				found.fix, found.drops = fix, drops
			}
			sp.checkWarmSnapshot(tx, &c)
			postingsSuspect = len(sp.comparePostings(&posted, 1)) > 0
			return nil
		})
		counterSuspect = viewErr == nil && sp.counts.Snapshot() != c.Tiers
		if found.fix != nil || found.tree != "" {
			// What Open's audit would have refused writes for (it audits less: see
			// audit.go): the space is treated the same from now on.
			sp.markDamaged(found.fix, &found.drops, found.tree)
		}
	})
	if viewErr != nil {
		return c, storageErr(op, sp.name, viewErr)
	}
	if d := sp.damage.Load(); d != nil {
		c.problem("%s", d.err(sp.name).Msg)
	}
	sp.recheckCounters(&c, counterSuspect)
	// A write that committed while the snapshot was read may be visible on one side only
	// (on disk, its turn to touch the indexes still to come): a suspect is a problem only
	// if the disagreement persists, re-read between two writes' turns, as the counters.
	if len(sus.hot) > 0 || len(sus.warm) > 0 {
		sp.betweenTurns(func(last bool) bool {
			sus.hot = sp.recheckHot(&c, sus.hot, last)
			sus.warm = sp.recheckWarm(&c, sus.warm, last)
			return len(sus.hot) == 0 && len(sus.warm) == 0
		})
	}
	if postingsSuspect {
		if err := sp.recheckPostings(&c); err != nil {
			return c, storageErr(op, sp.name, err)
		}
	}
	return c, nil
}

// recheckPostings compares the filter postings with the records again, for a space whose
// first comparison found a difference: like the index suspects, a write that committed
// while the snapshot was read may show on one side only, so a difference is reported
// only if it persists between two writes' turns a few times over.
func (sp *Space) recheckPostings(c *SpaceCheck) error {
	var err error
	sp.betweenTurns(func(last bool) bool {
		var problems []string
		err = sp.store.view(func(tx *bolt.Tx) error {
			b, err := sp.buckets(tx)
			if err != nil {
				return err
			}
			problems = sp.verifyPostings(b, maxProblems)
			return nil
		})
		if err == nil && last {
			for _, p := range problems {
				c.problem("%s", p)
			}
		}
		return err != nil || len(problems) == 0
	})
	return err
}

// betweenTurns re-checks a suspected disagreement between the file and the in-memory
// state: up to five times, at growing intervals, each time between two writes' turns (so
// no committed write is still on its way to memory), until check reports it settled. check
// is told when it runs for the last time, when what still disagrees is a problem.
func (sp *Space) betweenTurns(check func(last bool) (settled bool)) {
	for try := range 5 {
		time.Sleep(time.Duration(try) * 5 * time.Millisecond)
		settled := false
		sp.turn.exclusive(func() { settled = check(try == 4) })
		if settled {
			return
		}
	}
}

// indexMemo is what the in-memory indexes hold, taken between two writes' turns.
type indexMemo struct {
	hot, warm map[uint64]bool
	warmIdx   *index.Graph8 // to compare its codes with the records
}

// suspects are records whose index membership disagrees with their tier on disk.
type suspects struct {
	hot, warm []uint64
}

// indexKeys lists the keys of the hot index and the warm codes, and checks the graph's
// invariants. Called between two writes' turns.
func (sp *Space) indexKeys(c *SpaceCheck) indexMemo {
	m := indexMemo{hot: map[uint64]bool{}, warm: map[uint64]bool{}, warmIdx: sp.warmIndex()}
	if w := m.warmIdx; w != nil {
		for k := range w.Keys() {
			m.warm[k] = true
		}
		checkWarm(w, c)
	}
	_, idx, _ := sp.state()
	if idx != nil {
		for k := range idx.Keys() {
			m.hot[k] = true
		}
		c.IndexLen = idx.Len()
		if g, ok := idx.(*index.HNSW); ok {
			if err := g.Verify(); err != nil {
				c.problem("graph: %v", err)
			}
		}
	}
	return m
}

// checkRecords checks every record (decoding, dimension, tier, its ID leading back to it)
// and compares the tiers on disk with the indexes in m (consumed), returning the records
// whose index membership disagrees. It posts the terms of every record Open loads in
// posted, for the comparison with the filter postings, in the same walk.
func (sp *Space) checkRecords(b spaceTx, m indexMemo, c *SpaceCheck, found *checkDamage, posted *postingIndex) suspects {
	var sus suspects
	dim := sp.Dim()
	var vec []float32
	cur := b.recs.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		c.Records++
		seq, err := codec.KeySeq(k)
		if err != nil {
			c.problem("record key %x: %v", k, err)
			continue
		}
		if g, ok := safeGet(b.recs, k); !ok || len(g) != len(v) || (len(g) > 0 && &g[0] != &v[0]) {
			c.problem("record %d is not found by its own key: a branch page of the records' tree is damaged", seq)
			if found.tree == "" {
				found.tree = fmt.Sprintf("record %d is not found by its own key", seq)
			}
		}
		view, err := codec.Parse(v)
		if err != nil {
			c.problem("record %d: %v", seq, err)
			continue
		}
		t := b.tierOf(k, v)
		if !t.Valid() || view.Dim != dim {
			c.problem("record %d: tier %d, dim %d in a space of dim %d", seq, view.Tier, view.Dim, dim)
			continue
		}
		vec = slices.Grow(vec[:0], dim)[:dim]
		view.Embedding(vec)
		if err := usableEmbedding(vec); err != nil {
			c.problem("record %d (id %q): %v", seq, view.ID(), err)
			continue // left out of the indexes at Open, like a damaged record
		}
		c.Tiers[t]++
		posted.record(seq, view) // a record Open loads: its terms are posted
		if back, ok := safeKeyOf(b, view.ID()); !ok {
			found.id(c, "record %d (id %q): looking it up in the ID map fails on a damaged page", seq, view.ID())
		} else if back == nil {
			found.id(c, "record %d (id %q) is missing from the ID map", seq, view.ID())
		} else if s2, err := codec.KeySeq(back); err != nil || s2 != seq {
			found.id(c, "record %d (id %q): the ID map points at %x", seq, view.ID(), back)
		} else {
			c.IDs++
		}
		if t == tier.Hot && !m.hot[seq] {
			sus.hot = append(sus.hot, seq)
		}
		delete(m.hot, seq)
		if sp.tiering != nil {
			if t == tier.Warm && !m.warm[seq] {
				sus.warm = append(sus.warm, seq)
			}
			if t == tier.Warm && m.warm[seq] {
				vec = slices.Grow(vec[:0], dim)[:dim]
				view.Embedding(vec)
				if !m.warmIdx.Matches(seq, vec) {
					c.problem("warm record %d: its code in the warm index does not match the record", seq)
				}
			}
			delete(m.warm, seq)
		}
	}
	for k := range m.hot { // in the index, not (or not hot) on disk
		sus.hot = append(sus.hot, k)
	}
	for k := range m.warm {
		sus.warm = append(sus.warm, k)
	}
	return sus
}

// checkDamage is what Check found of the damage an audit looks for (audit.go).
type checkDamage struct {
	ids   int    // ID map problems
	idEx  string // the first
	tree  string // the first record its own key does not find
	fix   *idRepair
	drops tierChange
}

// id reports an ID-map problem.
func (f *checkDamage) id(c *SpaceCheck, format string, args ...any) {
	c.problem(format, args...)
	if f.ids++; f.idEx == "" {
		f.idEx = fmt.Sprintf(format, args...)
	}
}

// safeGet is b.Get with a panic on a damaged page reported as ok = false.
func safeGet(b *bolt.Bucket, k []byte) (v []byte, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
	}()
	return b.Get(k), true
}

// safeKeyOf is keyOf with a panic on a damaged page of the ID map reported as ok = false.
func safeKeyOf(b spaceTx, id string) (k []byte, ok bool) {
	defer func() {
		if recover() != nil {
			k, ok = nil, false
		}
	}()
	return b.keyOf(id), true
}

// checkIDMap checks that every ID map entry leads to a record holding that ID.
func (sp *Space) checkIDMap(b spaceTx, c *SpaceCheck, found *checkDamage) {
	defer func() {
		if r := recover(); r != nil {
			found.id(c, "the ID map's pages are damaged: walking it failed (%v)", r)
		}
	}()
	ic := b.ids.Cursor()
	for k, v := ic.First(); k != nil; k, v = ic.Next() {
		rv := b.recs.Get(v)
		if rv == nil {
			found.id(c, "id %q points at missing record %x", k, v)
			continue
		}
		if view, err := codec.Parse(rv); err == nil && view.ID() != string(k) {
			found.id(c, "id %q points at the record of %q", k, view.ID())
		}
	}
}

// recheckCounters re-counts the tiers on disk while the in-memory counters disagreed with
// the first count: the counters follow each commit in commit order, after it, and the
// first read may have included a commit whose turn had not come. A mismatch counts only if
// it persists.
func (sp *Space) recheckCounters(c *SpaceCheck, suspect bool) {
	if !suspect {
		return
	}
	sp.betweenTurns(func(last bool) bool {
		var onDisk [3]int64
		err := sp.store.view(func(tx *bolt.Tx) error {
			b, err := sp.buckets(tx)
			if err != nil {
				return err
			}
			// Damaged records are not counted (Open left them out), reported above.
			sp.eachLoadable(b, func(_ uint64, _ codec.View, t tier.Tier) { onDisk[t]++ })
			return nil
		})
		counts := sp.counts.Snapshot()
		if err == nil && counts != onDisk && last {
			c.problem("tier counters %v, records say %v", counts, onDisk)
		}
		return err != nil || counts == onDisk
	})
}

// eachLoadable calls visit for every record of b that Open loads (load.go): a readable
// key and record of the space's dimension, in a valid tier, with a finite embedding. The
// re-checks compare the in-memory state with these, as Open built it from them.
func (sp *Space) eachLoadable(b spaceTx, visit func(seq uint64, view codec.View, t tier.Tier)) {
	dim := sp.Dim()
	var vec []float32
	c := b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, err := codec.KeySeq(k)
		view, perr := codec.Parse(v)
		if err != nil || perr != nil {
			continue
		}
		t := b.tierOf(k, v)
		if !t.Valid() || view.Dim != dim {
			continue
		}
		vec = slices.Grow(vec[:0], dim)[:dim]
		if view.Embedding(vec); usableEmbedding(vec) != nil {
			continue
		}
		visit(seq, view, t)
	}
}

// recheckHot returns the suspects whose record and hot index still disagree; on the last
// try it reports them as problems instead.
func (sp *Space) recheckHot(c *SpaceCheck, suspects []uint64, last bool) []uint64 {
	var still []uint64
	for _, seq := range suspects {
		t, onDisk := sp.tierOnDisk(seq)
		hot := onDisk && t == tier.Hot
		_, idx, _ := sp.state()
		if inIdx := idx != nil && idx.Contains(seq); hot == inIdx {
			continue
		}
		if !last {
			still = append(still, seq)
			continue
		}
		switch {
		case hot:
			c.problem("hot record %d is not in the index", seq)
		case onDisk:
			c.problem("index holds record %d, which is not hot", seq)
		default:
			c.problem("index holds key %d, which has no record", seq)
		}
	}
	return still
}

// recheckWarm is recheckHot for the warm tier's index.
func (sp *Space) recheckWarm(c *SpaceCheck, suspects []uint64, last bool) []uint64 {
	var still []uint64
	for _, seq := range suspects {
		t, onDisk := sp.tierOnDisk(seq)
		warm := onDisk && t == tier.Warm
		w := sp.warmIndex()
		if inW := w != nil && w.Contains(seq); warm == inW {
			continue
		}
		if !last {
			still = append(still, seq)
			continue
		}
		if warm {
			c.problem("warm record %d is not in the warm tier's index", seq)
		} else {
			c.problem("the warm tier's index holds %d, which is not a warm record", seq)
		}
	}
	return still
}

// tierOnDisk reads the tier of the record seq now, and whether it exists.
func (sp *Space) tierOnDisk(seq uint64) (t tier.Tier, ok bool) {
	sp.store.view(func(tx *bolt.Tx) error {
		b, err := sp.buckets(tx)
		if err != nil {
			return err
		}
		k := codec.SeqKey(seq)
		if v := b.recs.Get(k); v != nil {
			t, ok = b.tierOf(k, v), true
		}
		return nil
	})
	return t, ok
}

// Check verifies this space alone (see Store.Check).
func (sp *Space) Check(ctx context.Context) (SpaceCheck, error) {
	if err := ctx.Err(); err != nil {
		return SpaceCheck{Name: sp.name}, ctxErr(OpCheck, sp.name, err)
	}
	return sp.check()
}
