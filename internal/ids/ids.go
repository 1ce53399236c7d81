// Package ids generates memory IDs: unique, time-sortable strings.
//
// The format is ULID-like: 26 characters of Crockford base32 encoding 48 bits of Unix
// milliseconds followed by 80 bits of entropy. Within one millisecond a generator
// increments the entropy instead of drawing new bits, so the IDs one Generator hands out
// sort in the order it handed them out, and two IDs never collide within a generator.
// Generators are per store (no package-level state).
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// Len is the length of a generated ID.
const Len = 26

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Generator hands out IDs; it is safe for concurrent use.
type Generator struct {
	mu     sync.Mutex
	now    func() time.Time
	lastMs uint64
	hi     uint16 // top 16 bits of the 80-bit entropy
	lo     uint64 // low 64 bits
}

// New returns a generator reading the wall clock.
func New() *Generator { return &Generator{now: time.Now} }

// NewWithClock returns a generator reading now; tests use it to pin time.
func NewWithClock(now func() time.Time) *Generator { return &Generator{now: now} }

// Next returns a fresh ID.
func (g *Generator) Next() string {
	var b [16]byte
	g.next(&b)
	return encode(&b)
}

// Fill writes len(dst) fresh IDs into dst under one lock acquisition, in sorted order.
func (g *Generator) Fill(dst []string) {
	var b [16]byte
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range dst {
		g.nextLocked(&b)
		dst[i] = encode(&b)
	}
}

func (g *Generator) next(b *[16]byte) {
	g.mu.Lock()
	g.nextLocked(b)
	g.mu.Unlock()
}

func (g *Generator) nextLocked(b *[16]byte) {
	ms := uint64(g.now().UnixMilli())
	if ms <= g.lastMs {
		// Same millisecond, or the clock stepped back: keep the last timestamp and count up,
		// so the sequence stays strictly increasing.
		ms = g.lastMs
		g.lo++
		if g.lo == 0 {
			g.hi++
			if g.hi == 0 { // 2^80 IDs in one millisecond: move to the next one.
				ms++
				g.fresh()
			}
		}
	} else {
		g.fresh()
	}
	g.lastMs = ms
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	binary.BigEndian.PutUint16(b[6:8], g.hi)
	binary.BigEndian.PutUint64(b[8:16], g.lo)
}

func (g *Generator) fresh() {
	var r [10]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on supported platforms (Go 1.24+).
	// Clear the top bit so that up to 2^79 increments fit before a carry into the timestamp.
	g.hi = binary.BigEndian.Uint16(r[0:2]) & 0x7fff
	g.lo = binary.BigEndian.Uint64(r[2:10])
}

// encode writes 128 bits as 26 base32 characters (the first carries only 3 bits), most
// significant first, so lexical order equals numeric order.
func encode(b *[16]byte) string {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [Len]byte
	for i := Len - 1; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// Time returns the millisecond timestamp encoded in a generated ID, and false when id is
// not in the generated format.
func Time(id string) (time.Time, bool) {
	if len(id) != Len {
		return time.Time{}, false
	}
	var ms uint64
	// 26 chars hold 130 bits: two leading zero bits, then the 128-bit value, so the first 10
	// chars (50 bits) are exactly the 48-bit timestamp.
	for i := 0; i < 10; i++ {
		c := decodeChar(id[i])
		if c < 0 {
			return time.Time{}, false
		}
		ms = ms<<5 | uint64(c)
	}
	return time.UnixMilli(int64(ms)), true
}

func decodeChar(c byte) int {
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == c {
			return i
		}
	}
	return -1
}
