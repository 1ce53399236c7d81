package index

// rowIndex maps keys to node numbers for the warm tier's index (Graph8) and the HNSW graph,
// which may hold millions of nodes: a Go map costs about 20–40 bytes an entry there (27.8
// measured for 340k dense keys, against 4.6 here), a sizeable share of a node of 8-bit codes
// and 5% of a 100-d graph node. The store's keys are record sequence numbers — dense,
// increasing integers — so the index is a set of pages of 4096 slots (16 KiB each,
// allocated when a key in their range arrives, freed when their last key leaves), 4 bytes
// a key. When the keys are sparse, so that the pages would cost more than twice what a map
// costs, it switches to a map, and back to pages once they would be cheaper again (checked
// each time the count doubles), so arbitrary keys never cost a page each.
type rowIndex struct {
	pages   map[uint64]*rowPage // key >> pageShift → page; nil while sparse
	sparse  map[uint64]int32
	n       int
	recheck int // while sparse: the count at which to reconsider pages
}

// mapEntryBytes is what a Go map spends on a uint64 → int32 entry, roughly.
const mapEntryBytes = 28

const (
	pageShift = 12
	pageSlots = 1 << pageShift
)

type rowPage struct {
	rows [pageSlots]int32 // row + 1; 0 = absent
	n    int
}

func newRowIndex() rowIndex { return rowIndex{pages: make(map[uint64]*rowPage)} }

func (x *rowIndex) len() int { return x.n }

func (x *rowIndex) get(k uint64) (int32, bool) {
	if x.sparse != nil {
		r, ok := x.sparse[k]
		return r, ok
	}
	p := x.pages[k>>pageShift]
	if p == nil {
		return 0, false
	}
	v := p.rows[k&(pageSlots-1)]
	return v - 1, v != 0
}

func (x *rowIndex) set(k uint64, r int32) {
	if x.sparse != nil {
		if _, ok := x.sparse[k]; !ok {
			x.n++
		}
		x.sparse[k] = r
		if x.n >= x.recheck { // amortized: the count doubled since the last look
			x.recheck = 2 * x.n
			pages := map[uint64]struct{}{}
			for k := range x.sparse {
				pages[k>>pageShift] = struct{}{}
			}
			if len(pages)*pageSlots*4 < x.n*mapEntryBytes {
				x.toPages()
			}
		}
		return
	}
	p := x.pages[k>>pageShift]
	if p == nil {
		if len(x.pages) >= 4 && (len(x.pages)+1)*pageSlots*4 > 2*(x.n+1)*mapEntryBytes {
			x.toSparse()
			x.set(k, r)
			return
		}
		p = new(rowPage)
		x.pages[k>>pageShift] = p
	}
	slot := &p.rows[k&(pageSlots-1)]
	if *slot == 0 {
		p.n++
		x.n++
	}
	*slot = r + 1
}

func (x *rowIndex) del(k uint64) {
	if x.sparse != nil {
		if _, ok := x.sparse[k]; ok {
			delete(x.sparse, k)
			x.n--
		}
		return
	}
	p := x.pages[k>>pageShift]
	if p == nil {
		return
	}
	slot := &p.rows[k&(pageSlots-1)]
	if *slot == 0 {
		return
	}
	*slot = 0
	p.n--
	x.n--
	if p.n == 0 {
		delete(x.pages, k>>pageShift)
	}
}

func (x *rowIndex) toSparse() {
	x.sparse = make(map[uint64]int32, x.n)
	for base, p := range x.pages {
		for i, v := range p.rows {
			if v != 0 {
				x.sparse[base<<pageShift|uint64(i)] = v - 1
			}
		}
	}
	x.pages = nil
	x.recheck = 2 * x.n
}

func (x *rowIndex) toPages() {
	m := x.sparse
	x.sparse, x.pages, x.n = nil, make(map[uint64]*rowPage), 0
	for k, r := range m {
		p := x.pages[k>>pageShift]
		if p == nil {
			p = new(rowPage)
			x.pages[k>>pageShift] = p
		}
		p.rows[k&(pageSlots-1)] = r + 1
		p.n++
		x.n++
	}
}

// each calls f for every key and its row, in no particular order, until f returns false.
// f must not change the index.
func (x *rowIndex) each(f func(k uint64, r int32) bool) {
	if x.sparse != nil {
		for k, r := range x.sparse {
			if !f(k, r) {
				return
			}
		}
		return
	}
	for base, p := range x.pages {
		for i, v := range p.rows {
			if v != 0 && !f(base<<pageShift|uint64(i), v-1) {
				return
			}
		}
	}
}

// bytes estimates the memory held.
func (x *rowIndex) bytes() int64 {
	if x.sparse != nil {
		return int64(len(x.sparse)) * mapEntryBytes
	}
	return int64(len(x.pages)) * (pageSlots*4 + 48)
}
