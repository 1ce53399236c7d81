package engram

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"unicode/utf8"

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	"github.com/engram-go/engram/tier"
)

// Audits of the structures without a checksum of their own. Records carry CRCs; the B+tree
// pages bbolt keeps them in, and the ID map (the <space>/ids bucket: plain keys and
// values), do not. A damaged page there answers wrongly without any error:
//
//   - a damaged ID map says an ID is not there although its record is (Get says NOT_FOUND
//     while Recall returns the memory, Forget does nothing, storing the ID again creates a
//     second memory with it), or leads an ID to another memory's record;
//   - a damaged branch page (a separator key) sends lookups of some keys into the wrong
//     leaf: a record is not found by its own key although a walk over the records sees it,
//     and a write into that tree can make more records unreachable.
//
// Open audits the ID map against the records it walks anyway (cheaply: see idPrint);
// Check audits both structures in full. A space found damaged reads through an ID map
// rebuilt from its records (so reads are right), refuses every write with CORRUPT (a write
// would change the damaged pages, and bbolt frees and rewrites pages by what they point
// at), and waits for Store.Repair (repair.go).

// spaceDamage is what an audit found wrong with a space.
type spaceDamage struct {
	ids  *idRepair // the ID map rebuilt from the records; nil when the stored map is sound
	tree string    // the records' B+tree misleads lookups: what was found ("" when sound)
}

// idRepair is the ID map of a space whose stored map failed its audit, rebuilt from its
// records: what keyOf answers instead of the stored map.
type idRepair struct {
	byID     map[string]uint64 // each readable record's ID → its seq (the newest, for an ID stored twice)
	problems int               // records the stored map does not lead back to, and entries leading nowhere
	example  string            // one of them, for messages
	dups     map[uint64]bool   // older records of an ID stored twice, kept out of the indexes and scans
}

// err is the error of a write to a damaged space.
func (d *spaceDamage) err(space string) *Error {
	var what string
	switch {
	case d.ids != nil && d.tree != "":
		what = fmt.Sprintf("its ID map (%d problems, e.g. %s) and its records' tree (%s) are damaged", d.ids.problems, d.ids.example, d.tree)
	case d.ids != nil:
		what = fmt.Sprintf("its ID map is damaged (%d problems, e.g. %s)", d.ids.problems, d.ids.example)
	default:
		what = fmt.Sprintf("its records' tree is damaged (%s)", d.tree)
	}
	return newErr(CodeCorrupt, opNone, space, "the space refuses writes: "+what+"; Store.Repair rebuilds it", nil)
}

// markDamaged records what an audit found (merging with what was known) and takes the
// older records of IDs stored twice out of memory. Called before the space is shared (at
// Open) or in its exclusive turn (Check).
func (sp *Space) markDamaged(fix *idRepair, drops *tierChange, tree string) {
	d := spaceDamage{}
	if prev := sp.damage.Load(); prev != nil {
		d = *prev
	}
	if fix != nil && d.ids == nil {
		d.ids = fix
		if drops != nil {
			sp.applyChange(drops)
		}
	}
	if tree != "" && d.tree == "" {
		d.tree = tree
	}
	if d.ids == nil && d.tree == "" {
		return
	}
	sp.damage.Store(&d)
	sp.store.log.Error("damaged space: reads use the ID map rebuilt from the records, writes are refused until Store.Repair",
		"space", sp.name, "id_map_problems", problemsOf(d.ids), "tree", d.tree)
}

func problemsOf(fix *idRepair) int {
	if fix == nil {
		return 0
	}
	return fix.problems
}

// isImplicit reports whether id is a generated ID that carries seq, so that it needs no
// ID-map entry (see keyOf).
func isImplicit(id []byte, seq uint64) bool {
	s, ok := ids.Seq(string(id)) // no allocation: the string does not escape
	return ok && s == seq
}

// idPrint is an order-independent fingerprint of a set of (ID, seq) pairs: Open computes
// one over the records that need an ID-map entry and one over the map's entries, in two
// sequential walks, and compares them. Equal sets give equal prints; a flipped key or
// value, an entry lost or added changes the print (but for a chance of 2^-64). It costs a
// hash per record and one walk over the map, where looking each record's ID up would cost
// a B+tree descent per record: BenchmarkOpenAudit measures its share of Open on a store of
// 50,000 memories with caller IDs (the case with a map entry per memory); generated IDs,
// the default, need no entry and cost the audit a 26-character decode per record.
type idPrint struct {
	sum, n uint64
}

var printSeed = maphash.MakeSeed()

func (p *idPrint) add(id []byte, seq uint64) {
	h := maphash.Bytes(printSeed, id) ^ (seq * 0x9E3779B97F4A7C15)
	// splitmix64's finalizer, so that sums of related pairs do not cancel
	h ^= h >> 30
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 27
	h *= 0x94D049BB133111EB
	h ^= h >> 31
	p.sum += h
	p.n++
}

// mapPrint is the fingerprint of the space's ID map entries that are needed (not implicit)
// and do not lead to a damaged record (whose side the record walk cannot print). It also
// checks what a walk can see of the map's structure: keys strictly increasing, and every
// 32nd key (and the last) found by a lookup, which catches most damaged branch pages
// (Check looks up every one). ok = false when the walk found damage itself, or panicked
// on a damaged page.
func mapPrint(b spaceTx, damaged map[uint64]bool) (p idPrint, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var prev, prevV []byte
	i := 0
	c := b.ids.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return p, false
		}
		if i++; i%32 == 0 {
			if g := b.ids.Get(k); !bytes.Equal(g, v) {
				return p, false
			}
		}
		prev, prevV = k, v
		seq, err := codec.KeySeq(v)
		if err != nil {
			return p, false
		}
		if damaged[seq] || isImplicit(k, seq) {
			continue
		}
		p.add(k, seq)
	}
	if prev != nil && !bytes.Equal(b.ids.Get(prev), prevV) {
		return p, false
	}
	return p, true
}

// fullIDAudit checks the ID map in both directions, one lookup per record and per entry:
// every readable record's ID leads back to it, and every entry leads to a record holding
// its ID (or to a damaged one). For Check's findings, Repair, and Open's slow path.
func fullIDAudit(b spaceTx) (problems int, example string) {
	note := func(format string, args ...any) {
		if problems++; example == "" {
			example = fmt.Sprintf(format, args...)
		}
	}
	c := b.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, err := codec.KeySeq(k)
		if err != nil {
			continue
		}
		if view, err := codec.Parse(v); err == nil && !leadsBack(b, k, seq, view.IDBytes()) {
			note("record %d (id %q) is not found by its ID", seq, view.IDBytes())
		}
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				note("walking the map fails on a damaged page (%v)", r)
			}
		}()
		ic := b.ids.Cursor()
		for k, v := ic.First(); k != nil; k, v = ic.Next() {
			rec := b.recs.Get(v)
			if rec == nil {
				note("id %q leads to missing record %x", k, v)
			} else if got := codec.PeekID(rec); got != nil && !bytes.Equal(got, k) {
				if _, err := codec.Parse(rec); err == nil {
					note("id %q leads to the record of %q", k, got)
				}
			}
		}
	}()
	return problems, example
}

// leadsBack reports whether the ID of the record at key leads back to it: its map entry
// names the key, or it has none and the ID carries the key's seq. A lookup that panics on
// a damaged page does not.
func leadsBack(b spaceTx, key []byte, seq uint64, id []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if e := b.ids.Get(id); e != nil {
		return bytes.Equal(e, key)
	}
	return isImplicit(id, seq)
}

// rebuildIDs reads every record of the space and returns the ID map they describe, and the
// older records of IDs stored twice that the load put in memory (to be taken out again).
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
			// Its terms leave the filter postings too (every parsed record has some).
			if pv, err := codec.Parse(b.recs.Get(codec.SeqKey(prev.seq))); err == nil {
				out.postDel = append(out.postDel, docOf(prev.seq, &pv))
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

// idLoadAudit is Open's audit of the ID map, fed by the load's walk over the records.
type idLoadAudit struct {
	records idPrint
	damaged map[uint64]bool // records that failed to parse: their IDs are not known
}

// record adds a readable record to the audit.
func (a *idLoadAudit) record(seq uint64, view *codec.View) {
	if id := view.IDBytes(); !isImplicit(id, seq) {
		a.records.add(id, seq)
	}
}

func (a *idLoadAudit) damagedRecord(seq uint64) {
	if a.damaged == nil {
		a.damaged = map[uint64]bool{}
	}
	a.damaged[seq] = true
}

// finish runs at the end of a space's load: when the map's print differs from the
// records', the space is marked damaged with its map rebuilt.
func (l *spaceLoad) finishAudit() {
	m, ok := mapPrint(l.b, l.audit.damaged)
	if ok && m == l.audit.records {
		return
	}
	fix, drops := rebuildIDs(l.b, l.cfg.Dim)
	fix.problems, fix.example = fullIDAudit(l.b)
	if fix.problems == 0 { // the print saw what the lookups do not: say so
		fix.problems, fix.example = 1, "the map's entries differ from what the records need"
	}
	l.sp.markDamaged(fix, &drops, "")
}
