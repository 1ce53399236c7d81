package index

import (
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// KindGraph8 is the warm tier's approximate index: a proximity graph over 8-bit codes.
const KindGraph8 Kind = 3

// Graph8 is an HNSW graph (Malkov & Yashunin: layers, greedy descent, neighbour-selection
// heuristic) whose nodes hold 8-bit scalar-quantized vectors — one int8 per component and
// one float32 scale, a quarter of float32 — compared by an int8 dot product (AVX2 on
// amd64). Similarities are approximate (a quantization error around 1e-3 of a cosine), so
// the caller re-ranks results at full precision. It is the warm tier's index: searchable
// in about the time of the hot graph, in about a third of its memory.
//
// Each node also carries a stamp, a uint32 the caller owns (the warm tier keeps the time
// of last use there, to age memories into the cold tier without a map per memory).
//
// Concurrency: one writer at a time (Add, Delete, Publish, Compact take a writer lock).
// A writer does its expensive part — the searches that choose an insert's neighbours, the
// re-selection of the lists a compaction repairs — under the read lock, beside running
// searches, and takes the write lock only to store the result: nothing but its own writes
// can change the graph in between. Searches hold the read lock.
type Graph8 struct {
	cfg    Graph8Config
	dim    int
	m, m0  int
	stride int // 1 + m0: words per layer-0 list
	ml     float64

	wmu sync.Mutex   // one writer at a time
	mu  sync.RWMutex // searches: shared; a writer's stores: exclusive

	blocks []*g8block // node id → blocks[id >> g8Shift]
	// upper holds the lists of layers 1..level (level × (1 + m) words) of the nodes that
	// have them, 1 in M: a map costs them a few bytes a node where a slice header in every
	// node's slot would cost 24.
	upper  map[uint32][]uint32
	high   uint32   // ids below it have been handed out (guarded by wmu; read under mu)
	free   []uint32 // recycled ids (wmu)
	byKey  rowIndex // key → node id
	entry  uint32
	top    int // the entry point's level; -1 when the graph is empty
	live   int // published nodes
	hidden int // linked, not yet published
	dead   int // tombstones not yet recycled
	rng    *rand.Rand

	sinceConnect int      // nodes linked since the last connectivity check (wmu)
	orphans      []uint32 // nodes whose layer-0 in-degree dropped to zero (mu)

	changes atomic.Uint64 // bumped by every Add, Publish and Delete, for snapshot staleness
	scratch sync.Pool     // *g8scratch
}

// Graph8Config tunes a Graph8. Zero fields take the defaults documented on each.
type Graph8Config struct {
	// M is the neighbour count per node on the upper layers; layer 0 keeps 2M. Default 12.
	M int
	// EfConstruction is the candidate-list size while inserting. Default 64.
	EfConstruction int
	// EfSearch is the default candidate-list size of a query (SearchOptions.Breadth
	// overrides it); it is raised to k when smaller. Default 64.
	EfSearch int
	// CompactRatio: when tombstones reach this share of the nodes, the graph is repaired
	// around them and their slots recycled. Default 0.1.
	CompactRatio float64
	// Seed of the level generator. Default 1.
	Seed uint64
}

func (c Graph8Config) withDefaults() Graph8Config {
	if c.M <= 0 {
		c.M = 12
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = 64
	}
	if c.EfSearch <= 0 {
		c.EfSearch = 64
	}
	if c.CompactRatio <= 0 {
		c.CompactRatio = 0.1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Node storage: fixed blocks, so growth never moves a node and memory follows the node
// count (one partly filled block at most).
const (
	g8Shift = 10
	g8Block = 1 << g8Shift
	g8Mask  = g8Block - 1

	g8MaxLevel = 16 // caps the level draw (16^16 nodes would be needed to reach it)
)

// g8ConnectSmall: graphs up to this many nodes are checked for connectivity after every
// insert batch, larger ones after every 10% of growth (a check walks the bottom layer).
const g8ConnectSmall = 50_000

// Node state bits (one byte a node).
const (
	g8Level     = 0x1f
	g8Allocated = 1 << 5 // the slot holds a node
	g8Live      = 1 << 6 // published: returned by searches
	g8Deleted   = 1 << 7 // tombstone: traversed, never returned, repaired away by Compact
)

type g8block struct {
	codes  []int8 // g8Block × dim
	scales []float32
	keys   []uint64
	stamps []uint32 // atomic: SetStamp runs under the read lock
	state  []uint8
	indeg  []int32  // layer-0 in-degree, to find nodes no list points to
	links0 []uint32 // g8Block × stride: count, then neighbour ids
}

// NewGraph8 returns an empty graph of dim-length unit vectors.
func NewGraph8(dim int, cfg Graph8Config) *Graph8 {
	cfg = cfg.withDefaults()
	return &Graph8{
		cfg: cfg, dim: dim, m: cfg.M, m0: 2 * cfg.M, stride: 1 + 2*cfg.M,
		ml:    1 / math.Log(float64(cfg.M)),
		byKey: newRowIndex(), top: -1, upper: make(map[uint32][]uint32),
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x2545f4914f6cdd1d)),
	}
}

// Config returns the graph's configuration with defaults filled in.
func (g *Graph8) Config() Graph8Config { return g.cfg }

// Kind implements Index.
func (g *Graph8) Kind() Kind { return KindGraph8 }

// Dim implements Index.
func (g *Graph8) Dim() int { return g.dim }

// Len implements Index: published nodes.
func (g *Graph8) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.live
}

// Changes returns a counter that grows with every Add, Publish and Delete.
func (g *Graph8) Changes() uint64 { return g.changes.Load() }

func (g *Graph8) blk(id uint32) *g8block { return g.blocks[id>>g8Shift] }

func (g *Graph8) stateOf(id uint32) uint8 { return g.blk(id).state[id&g8Mask] }

func (g *Graph8) levelOf(id uint32) int { return int(g.stateOf(id) & g8Level) }

func (g *Graph8) code(id uint32) []int8 {
	off := int(id&g8Mask) * g.dim
	return g.blk(id).codes[off : off+g.dim : off+g.dim]
}

func (g *Graph8) scale(id uint32) float32 { return g.blk(id).scales[id&g8Mask] }

func (g *Graph8) keyOf(id uint32) uint64 { return g.blk(id).keys[id&g8Mask] }

// list returns id's layer-l list (word 0 the count), nil if it has no layer l.
func (g *Graph8) list(id uint32, l int) []uint32 {
	b := g.blk(id)
	if l == 0 {
		off := int(id&g8Mask) * g.stride
		return b.links0[off : off+g.stride : off+g.stride]
	}
	up := g.upper[id]
	off := (l - 1) * (1 + g.m)
	if off+1+g.m > len(up) {
		return nil
	}
	return up[off : off+1+g.m : off+1+g.m]
}

func (g *Graph8) maxDegree(l int) int {
	if l == 0 {
		return g.m0
	}
	return g.m
}

// returnable reports whether a node may be returned by a search: published, not deleted.
func returnable(st uint8) bool { return st&(g8Live|g8Deleted) == g8Live }

// grow appends blocks until id has one (called with mu held exclusively).
func (g *Graph8) grow(id uint32) {
	for int(id>>g8Shift) >= len(g.blocks) {
		g.blocks = append(g.blocks, &g8block{
			codes: make([]int8, g8Block*g.dim), scales: make([]float32, g8Block),
			keys: make([]uint64, g8Block), stamps: make([]uint32, g8Block),
			state: make([]uint8, g8Block), indeg: make([]int32, g8Block),
			links0: make([]uint32, g8Block*g.stride),
		})
	}
}

// Add implements Index (stamps of new nodes are 0).
func (g *Graph8) Add(keys []uint64, vecs []float32) error { return g.add(keys, vecs, nil, true) }

// AddStamped adds nodes with their stamps (nil: zeros). A key already present is
// replaced.
func (g *Graph8) AddStamped(keys []uint64, vecs []float32, stamps []uint32) error {
	return g.add(keys, vecs, stamps, true)
}

// AddHidden links nodes like AddStamped, but searches do not return them until Publish
// (they are traversed meanwhile). It lets a caller build the index for data whose commit
// is in flight: Publish on success, Delete on failure.
func (g *Graph8) AddHidden(keys []uint64, vecs []float32, stamps []uint32) error {
	return g.add(keys, vecs, stamps, false)
}

func (g *Graph8) add(keys []uint64, vecs []float32, stamps []uint32, publish bool) error {
	dim := g.dim
	if len(vecs) != len(keys)*dim || (stamps != nil && len(stamps) != len(keys)) {
		return fmt.Errorf("%w: %d floats, %d stamps for %d keys of dim %d", ErrDimension, len(vecs), len(stamps), len(keys), dim)
	}
	if len(keys) == 0 {
		return nil
	}
	// Within the batch the last row for a key wins.
	last := make(map[uint64]int, len(keys))
	for i, k := range keys {
		last[k] = i
	}
	if len(last) < len(keys) {
		var ks []uint64
		var vs []float32
		var ss []uint32
		for i, k := range keys {
			if last[k] == i {
				ks, vs = append(ks, k), append(vs, vecs[i*dim:(i+1)*dim]...)
				if stamps != nil {
					ss = append(ss, stamps[i])
				}
			}
		}
		keys, vecs, stamps = ks, vs, ss
	}
	codes := make([]int8, len(keys)*dim)
	scales := make([]float32, len(keys))
	for i := range keys {
		scales[i] = quantize(codes[i*dim:(i+1)*dim], vecs[i*dim:(i+1)*dim])
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	s := g.getScratch()
	defer g.putScratch(s)
	g.mu.Lock()
	for _, k := range keys { // a key present is replaced
		if id, ok := g.byKey.get(k); ok {
			g.tombstoneLocked(uint32(id))
			g.byKey.del(k)
		}
	}
	g.mu.Unlock()
	g.insertBatch(keys, codes, scales, stamps, publish)
	g.changes.Add(1)
	g.rescueOrphans(s)
	g.sinceConnect += len(keys)
	if g.needsCompact() {
		g.compact(s)
	} else if g.sinceConnect*10 >= int(g.high) || g.high <= g8ConnectSmall {
		g.sinceConnect = 0
		g.connect(s)
	}
	return nil
}

// Publish makes hidden nodes returnable and reports how many it published.
func (g *Graph8) Publish(keys ...uint64) int {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, k := range keys {
		id, ok := g.byKey.get(k)
		if !ok {
			continue
		}
		b := g.blk(uint32(id))
		if st := b.state[id&g8Mask]; st&(g8Live|g8Deleted) == 0 {
			b.state[id&g8Mask] = st | g8Live
			g.hidden--
			g.live++
			n++
		}
	}
	if n > 0 {
		g.changes.Add(1)
	}
	return n
}

// Delete implements Index: the nodes become tombstones, traversed by searches (so the
// graph stays connected) but never returned, until enough of them accumulate for Compact
// to repair the graph around them.
func (g *Graph8) Delete(keys ...uint64) int {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	n := 0
	for _, k := range keys {
		if id, ok := g.byKey.get(k); ok {
			g.tombstoneLocked(uint32(id))
			g.byKey.del(k)
			n++
		}
	}
	g.mu.Unlock()
	if n > 0 {
		g.changes.Add(1)
		if g.needsCompact() {
			s := g.getScratch()
			g.compact(s)
			g.putScratch(s)
		}
	}
	return n
}

// tombstoneLocked marks id deleted (mu held exclusively).
func (g *Graph8) tombstoneLocked(id uint32) {
	b := g.blk(id)
	st := b.state[id&g8Mask]
	if st&g8Deleted != 0 {
		return
	}
	b.state[id&g8Mask] = st | g8Deleted
	if st&g8Live != 0 {
		g.live--
	} else {
		g.hidden--
	}
	g.dead++
}

func (g *Graph8) needsCompact() bool {
	used := int(g.high) - len(g.free)
	return g.dead > 0 && (g.dead >= used || (g.dead >= 64 && float64(g.dead) >= g.cfg.CompactRatio*float64(used)))
}

// Contains implements Index: the key is present and published.
func (g *Graph8) Contains(key uint64) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	id, ok := g.byKey.get(key)
	return ok && returnable(g.stateOf(uint32(id)))
}

// Has reports whether key is present, published or hidden.
func (g *Graph8) Has(key uint64) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.byKey.get(key)
	return ok
}

// Stamp returns key's stamp.
func (g *Graph8) Stamp(key uint64) (uint32, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	id, ok := g.byKey.get(key)
	if !ok {
		return 0, false
	}
	return atomic.LoadUint32(&g.blk(uint32(id)).stamps[id&g8Mask]), true
}

// SetStamp sets key's stamp, reporting whether key is present. It takes only the read
// lock: recalls stamp their warm hits and must not wait for each other.
func (g *Graph8) SetStamp(key uint64, v uint32) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	id, ok := g.byKey.get(key)
	if ok {
		atomic.StoreUint32(&g.blk(uint32(id)).stamps[id&g8Mask], v)
	}
	return ok
}

// StampedBefore returns up to n keys of published nodes whose stamp is below limit.
func (g *Graph8) StampedBefore(limit uint32, n int) []uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []uint64
	for id := uint32(0); id < g.high && len(out) < n; id++ {
		b := g.blk(id)
		if returnable(b.state[id&g8Mask]) && atomic.LoadUint32(&b.stamps[id&g8Mask]) < limit {
			out = append(out, b.keys[id&g8Mask])
		}
	}
	return out
}

// Keys implements Index: published keys. It copies them first, so the loop body may use
// the index.
func (g *Graph8) Keys() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		g.mu.RLock()
		keys := make([]uint64, 0, g.live)
		for id := uint32(0); id < g.high; id++ {
			if b := g.blk(id); returnable(b.state[id&g8Mask]) {
				keys = append(keys, b.keys[id&g8Mask])
			}
		}
		g.mu.RUnlock()
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// MemoryBytes implements Index: the blocks (codes, scales, keys, stamps, states,
// in-degrees, layer-0 lists), the upper-layer lists and the key index.
func (g *Graph8) MemoryBytes() int64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	per := int64(g.dim + 4 + 8 + 4 + 1 + 4 + 4*g.stride)
	total := int64(len(g.blocks))*g8Block*per + g.byKey.bytes()
	for _, up := range g.upper {
		total += int64(cap(up))*4 + 48 // and the map entry
	}
	return total
}

// Matches reports whether key is present with the code vec quantizes to (Check compares
// the codes with the records they were made from).
func (g *Graph8) Matches(key uint64, vec []float32) bool {
	if len(vec) != g.dim {
		return false
	}
	code := make([]int8, g.dim)
	sc := quantize(code, vec)
	g.mu.RLock()
	defer g.mu.RUnlock()
	id, ok := g.byKey.get(key)
	if !ok || g.scale(uint32(id)) != sc {
		return false
	}
	for i, c := range g.code(uint32(id)) {
		if c != code[i] {
			return false
		}
	}
	return true
}

// Graph8Stats describes the graph's shape.
type Graph8Stats struct {
	Live, Hidden, Tombstones, Free int
	TopLayer                       int
	MeanDegree                     float64 // layer-0 out-degree of published nodes
}

// Stats returns the graph's shape.
func (g *Graph8) Stats() Graph8Stats {
	g.mu.RLock()
	defer g.mu.RUnlock()
	st := Graph8Stats{Live: g.live, Hidden: g.hidden, Tombstones: g.dead, Free: len(g.free), TopLayer: g.top}
	deg, n := 0, 0
	for id := uint32(0); id < g.high; id++ {
		if returnable(g.stateOf(id)) {
			deg += int(g.list(id, 0)[0])
			n++
		}
	}
	if n > 0 {
		st.MeanDegree = float64(deg) / float64(n)
	}
	return st
}
