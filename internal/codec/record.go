// Package codec is the on-disk encoding of engram's records and space configs.
//
// Records are versioned binary, little-endian, ending in a CRC-32C of everything before it,
// so a torn or bit-flipped value is detected on read instead of decoded into a wrong
// memory. The embedding sits at a fixed offset right after the fixed header: rebuilding an
// index at Open reads vectors without parsing the variable-length fields.
//
// Record v1 layout:
//
//	 0  u8   version (1)
//	 1  u8   tier
//	 2  u16  reserved flags (0)
//	 4  f32  confidence
//	 8  i64  created, Unix nanoseconds
//	16  u32  dim
//	20  f32  original norm of the embedding (it is stored unit-normalized)
//	24  dim × f32 embedding
//	    uvarint len + ID bytes
//	    uvarint len + content bytes
//	    uvarint count, then per tag: uvarint len + bytes
//	    uvarint count, then per entry, sorted by key: uvarint len + key, uvarint len + value
//	    u32  CRC-32C (Castagnoli) of all preceding bytes
//
// Record v2 is v1 with version byte 2 and one more field between the metadata and the
// CRC: an i64 expiry, Unix nanoseconds, never 0.
//
// A record without an expiry is written as v1, so stores that do not use expiry stay
// readable by code that predates v2, and every record keeps exactly one encoding: a v2
// record whose expiry is 0 is rejected as corrupt. The expiry trails the variable fields
// rather than joining the fixed header so that the embedding keeps its offset (24) in both
// versions, and Open's index rebuild reads vectors the same way from either.
//
// Decoders never panic on arbitrary input and never return slices that alias the input:
// bbolt's values live in its mmap and are only valid during the transaction.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"slices"
)

// Record versions. RecordVersion (v1) is written for records without an expiry,
// RecordVersionV2 for those with one; both are read.
const (
	RecordVersion   = 1
	RecordVersionV2 = 2
)

const headerLen = 24

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every decode error.
var ErrCorrupt = errors.New("codec: corrupt value")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// Record is one memory as stored.
type Record struct {
	Tier       uint8
	Confidence float32
	Created    int64 // Unix nanoseconds
	Norm       float32
	Vec        []float32 // unit-normalized
	ID         string
	Content    string
	Tags       []string
	Meta       map[string]string
	Expires    int64 // Unix nanoseconds; 0 = never (encoded as v1)
}

// version returns the record version r is encoded with.
func (r *Record) version() byte {
	if r.Expires != 0 {
		return RecordVersionV2
	}
	return RecordVersion
}

// EncodedLen returns the exact size Encode will produce for r.
func EncodedLen(r *Record) int {
	n := headerLen + 4*len(r.Vec) + 4
	n += uvarintLen(len(r.ID)) + len(r.ID)
	n += uvarintLen(len(r.Content)) + len(r.Content)
	n += uvarintLen(len(r.Tags))
	for _, t := range r.Tags {
		n += uvarintLen(len(t)) + len(t)
	}
	n += uvarintLen(len(r.Meta))
	for k, v := range r.Meta {
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(v)) + len(v)
	}
	if r.Expires != 0 {
		n += 8
	}
	return n
}

// Encode appends the encoding of r to dst. Callers encoding many records size dst once
// with EncodedLen; Encode itself does not, to avoid a second pass over the metadata.
func Encode(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, r.version(), r.Tier, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(r.Confidence))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Created))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(r.Vec)))
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(r.Norm))
	dst = appendFloats(dst, r.Vec)
	dst = appendString(dst, r.ID)
	dst = appendString(dst, r.Content)
	dst = binary.AppendUvarint(dst, uint64(len(r.Tags)))
	for _, t := range r.Tags {
		dst = appendString(dst, t)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Meta)))
	keys := make([]string, 0, len(r.Meta))
	for k := range r.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic bytes for the same memory
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendString(dst, r.Meta[k])
	}
	if r.Expires != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Expires))
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// View is a parsed record whose byte fields still point into the input. It lets filters
// run on a stored value without copying it; a View must not outlive its input.
type View struct {
	Tier       uint8
	Confidence float32
	Created    int64
	Norm       float32
	Dim        int
	Expires    int64 // Unix nanoseconds; 0 = never
	vec        []byte
	id         []byte
	content    []byte
	tags       []byte // count-prefixed, as encoded
	meta       []byte
}

// Parse checks b's version, structure and checksum and returns a View into it.
func Parse(b []byte) (View, error) {
	var v View
	if len(b) < headerLen+4 {
		return v, corrupt("record of %d bytes is shorter than its header", len(b))
	}
	if b[0] != RecordVersion && b[0] != RecordVersionV2 {
		return v, corrupt("unknown record version %d", b[0])
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return v, corrupt("record checksum %08x, want %08x", got, want)
	}
	if b[2] != 0 || b[3] != 0 {
		return v, corrupt("reserved record flags %02x%02x", b[2], b[3])
	}
	v.Tier = b[1]
	v.Confidence = math.Float32frombits(binary.LittleEndian.Uint32(b[4:]))
	v.Created = int64(binary.LittleEndian.Uint64(b[8:]))
	dim := binary.LittleEndian.Uint32(b[16:])
	v.Norm = math.Float32frombits(binary.LittleEndian.Uint32(b[20:]))
	if uint64(dim)*4 > uint64(len(body)-headerLen) {
		return v, corrupt("record dim %d exceeds its length", dim)
	}
	v.Dim = int(dim)
	v.vec = body[headerLen : headerLen+4*v.Dim]
	r := reader{b: body[headerLen+4*v.Dim:]}
	v.id = r.bytes()
	v.content = r.bytes()
	tagStart := r.off
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.bytes()
	}
	v.tags = r.b[tagStart:r.off]
	metaStart := r.off
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.bytes()
		r.bytes()
	}
	v.meta = r.b[metaStart:r.off]
	if r.err != nil {
		return View{}, r.err
	}
	if b[0] == RecordVersionV2 {
		if len(r.b)-r.off < 8 {
			return View{}, corrupt("record v2 without room for its expiry")
		}
		v.Expires = int64(binary.LittleEndian.Uint64(r.b[r.off:]))
		r.off += 8
		if v.Expires == 0 {
			return View{}, corrupt("record v2 with a zero expiry") // that is a v1 record
		}
	}
	if r.off != len(r.b) {
		return View{}, corrupt("%d trailing bytes in record", len(r.b)-r.off)
	}
	return v, nil
}

// PeekID returns the ID bytes of an encoded record without checking the rest of it (its
// checksum included), or nil when the bytes up to the ID are malformed. It aliases b. The
// store uses it to confirm which memory a record holds before reading it in full, so a
// damaged record is still reported as damaged rather than as missing.
func PeekID(b []byte) []byte {
	if len(b) < headerLen+4 || (b[0] != RecordVersion && b[0] != RecordVersionV2) {
		return nil
	}
	body := b[:len(b)-4]
	dim := binary.LittleEndian.Uint32(b[16:])
	if uint64(dim)*4 > uint64(len(body)-headerLen) {
		return nil
	}
	r := reader{b: body[headerLen+4*int(dim):]}
	id := r.bytes()
	if r.err != nil {
		return nil
	}
	return id
}

// PeekTier returns the tier byte an encoded record was written with, without checking the
// rest of it, and whether b is long enough to hold one. The store's placement bucket
// overrides it for memories moved since.
func PeekTier(b []byte) (uint8, bool) {
	if len(b) < 2 {
		return 0, false
	}
	return b[1], true
}

// ID returns a copy of the record's ID.
func (v *View) ID() string { return string(v.id) }

// IDBytes returns the record's ID, aliasing the input (valid as long as it is).
func (v *View) IDBytes() []byte { return v.id }

// Embedding copies the stored vector into dst, which must have length v.Dim.
func (v *View) Embedding(dst []float32) { copyFloats(dst, v.vec) }

// HasTags reports whether the record carries every tag in want.
func (v *View) HasTags(want []string) bool {
	for _, w := range want {
		found := false
		r := reader{b: v.tags}
		for n := r.count(); n > 0; n-- {
			if string(r.bytes()) == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// HasMeta reports whether the record's metadata holds every key of want with an equal value.
func (v *View) HasMeta(want map[string]string) bool {
	if len(want) == 0 {
		return true
	}
	matched := 0
	r := reader{b: v.meta}
	for n := r.count(); n > 0; n-- {
		k := r.bytes()
		val := r.bytes()
		if w, ok := want[string(k)]; ok { // string(k) in a map index does not allocate
			if w != string(val) {
				return false
			}
			matched++
		}
	}
	return matched == len(want)
}

// HasTag reports whether the record carries tag.
func (v *View) HasTag(tag string) bool {
	r := reader{b: v.tags}
	for n := r.count(); n > 0; n-- {
		if string(r.bytes()) == tag {
			return true
		}
	}
	return false
}

// MetaValue returns the value of the metadata key, aliasing the input, and whether the
// record has the key.
func (v *View) MetaValue(key string) ([]byte, bool) {
	r := reader{b: v.meta}
	for n := r.count(); n > 0; n-- {
		k := r.bytes()
		val := r.bytes()
		if string(k) == key {
			return val, true
		}
	}
	return nil, false
}

// ContentBytes returns the record's content, aliasing the input.
func (v *View) ContentBytes() []byte { return v.content }

// TagBytes iterates over the record's tags, aliasing the input.
func (v *View) TagBytes() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		r := reader{b: v.tags}
		for n := r.count(); n > 0; n-- {
			if !yield(r.bytes()) {
				return
			}
		}
	}
}

// MetaBytes iterates over the record's metadata entries in key order, aliasing the input.
func (v *View) MetaBytes() iter.Seq2[[]byte, []byte] {
	return func(yield func(k, v []byte) bool) {
		r := reader{b: v.meta}
		for n := r.count(); n > 0; n-- {
			k := r.bytes()
			if !yield(k, r.bytes()) {
				return
			}
		}
	}
}

// Record copies the view into a Record that owns all its memory.
func (v *View) Record() Record {
	rec := Record{
		Tier:       v.Tier,
		Confidence: v.Confidence,
		Created:    v.Created,
		Norm:       v.Norm,
		Vec:        make([]float32, v.Dim),
		Tags:       v.Tags(),
		Meta:       v.Meta(),
		Expires:    v.Expires,
	}
	rec.ID, rec.Content = v.IDContent()
	v.Embedding(rec.Vec)
	return rec
}

// IDContent returns copies of the record's ID and content, sharing one allocation (the
// two are read together, and together they are the bulk of a memory's text).
func (v *View) IDContent() (id, content string) {
	s := string(append(append(make([]byte, 0, len(v.id)+len(v.content)), v.id...), v.content...))
	return s[:len(v.id)], s[len(v.id):]
}

// Tags returns copies of the record's tags, or nil when it has none.
func (v *View) Tags() []string {
	r := reader{b: v.tags}
	n := r.count()
	if n == 0 {
		return nil
	}
	tags := make([]string, 0, n)
	for ; n > 0; n-- {
		tags = append(tags, string(r.bytes()))
	}
	return tags
}

// Meta returns a copy of the record's metadata, or nil when it has none.
func (v *View) Meta() map[string]string {
	r := reader{b: v.meta}
	n := r.count()
	if n == 0 {
		return nil
	}
	meta := make(map[string]string, n)
	for ; n > 0; n-- {
		k := string(r.bytes())
		meta[k] = string(r.bytes())
	}
	return meta
}

// Decode parses and copies b.
func Decode(b []byte) (Record, error) {
	v, err := Parse(b)
	if err != nil {
		return Record{}, err
	}
	return v.Record(), nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func uvarintLen(n int) int {
	l := 1
	for x := uint64(n); x >= 0x80; x >>= 7 {
		l++
	}
	return l
}

// reader walks length-prefixed fields; the first malformed field sets err and every later
// read returns nothing, so callers check err once at the end.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 || n != uvarintLen(int(min(x, 1<<62))) {
		// Only the shortest encoding is valid, so each record has one encoding (a longer
		// one would decode to the same record and re-encode differently).
		r.err = corrupt("bad length at offset %d", r.off)
		return 0
	}
	r.off += n
	return x
}

// count reads an element count, rejecting counts that could not fit in the rest of the
// input (each element takes at least one byte) so a forged count cannot drive allocation.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.off) {
		if r.err == nil {
			r.err = corrupt("count %d exceeds remaining %d bytes", n, len(r.b)-r.off)
		}
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.err = corrupt("field of %d bytes exceeds remaining %d", n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}
