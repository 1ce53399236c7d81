package postgres

// Encoders of PostgreSQL's binary COPY format, for the column types Export writes. Export
// builds the stream itself instead of going through pgx's CopyFrom and its generic
// per-value encoding plans: rows are written straight from the memory into one buffer.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5/pgtype"
)

// outKind is the server column type a field is written as.
type outKind uint8

const (
	oText        outKind = iota // text, varchar
	oFloat4Array                // real[]
	oFloat8Array                // double precision[]
	oVector                     // pgvector (INSERT path only)
	oBytea                      // little-endian float32s
	oFloat4
	oFloat8
	oTimestamptz
	oTimestamp
	oJSONB
	oJSON
	oTextArray    // text[]
	oVarcharArray // varchar[]
	oInt8
)

// outColumn is a target column and what goes in it.
type outColumn struct {
	field field // fID..fTags, or fHash
	name  string
	kind  outKind
}

// fHash is the sync hash column, past the memory fields.
const fHash = fExtra

// HashColumn is the column Export and Sync record each row's content hash in, which lets
// Sync tell changed memories from unchanged ones without reading them back.
const HashColumn = "engram_hash"

// rowHash is a digest of everything Export writes of a memory: Sync rewrites a row only
// when it changed. It covers the stored (normalized) embedding bit for bit, and the
// creation time at PostgreSQL's microsecond precision.
func rowHash(m *engram.Memory) int64 {
	h := sha256.New()
	var b [8]byte
	str := func(s string) {
		binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		h.Write([]byte(s))
	}
	str(m.ID)
	str(m.Content)
	buf := make([]byte, 4*len(m.Embedding))
	for i, f := range m.Embedding {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	h.Write(buf)
	binary.LittleEndian.PutUint32(b[:4], math.Float32bits(m.Conf()))
	h.Write(b[:4])
	binary.LittleEndian.PutUint64(b[:], uint64(micros(m.CreatedAt)))
	h.Write(b[:])
	keys := slices.Sorted(maps.Keys(m.Metadata))
	binary.LittleEndian.PutUint64(b[:], uint64(len(keys)))
	h.Write(b[:])
	for _, k := range keys {
		str(k)
		str(m.Metadata[k])
	}
	binary.LittleEndian.PutUint64(b[:], uint64(len(m.Tags)))
	h.Write(b[:])
	for _, t := range m.Tags {
		str(t)
	}
	return int64(binary.LittleEndian.Uint64(h.Sum(nil)))
}

// micros is t in microseconds since PostgreSQL's epoch, rounded down.
func micros(t time.Time) int64 {
	d := t.Sub(pgEpoch) // saturates past ±292 years, beyond what the store accepts
	us := d / time.Microsecond
	if d%time.Microsecond < 0 {
		us--
	}
	return int64(us)
}

// metadataJSON renders metadata as a JSON object (keys sorted, no HTML escaping).
func metadataJSON(m map[string]string) []byte {
	if len(m) == 0 {
		return []byte("{}")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(m) // a map of strings always encodes
	return bytes.TrimRight(b.Bytes(), "\n")
}

// copyEncoder appends binary COPY rows.
type copyEncoder struct {
	cols []outColumn
	buf  []byte
}

func (e *copyEncoder) header() {
	e.buf = append(e.buf, copySignature...)
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // flags
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // no header extension
}

func (e *copyEncoder) trailer() { e.buf = binary.BigEndian.AppendUint16(e.buf, 0xffff) }

// row appends m (whose hash is h) as one row.
func (e *copyEncoder) row(m *engram.Memory, h int64) {
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(e.cols)))
	for _, c := range e.cols {
		at := len(e.buf)
		e.buf = append(e.buf, 0, 0, 0, 0) // length, patched below
		switch c.field {
		case fID:
			e.buf = append(e.buf, m.ID...)
		case fContent:
			e.buf = append(e.buf, m.Content...)
		case fEmbedding:
			e.floats(c.kind, m.Embedding)
		case fConfidence:
			if c.kind == oFloat4 {
				e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(m.Conf()))
			} else {
				e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(float64(m.Conf())))
			}
		case fCreatedAt:
			e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(micros(m.CreatedAt)))
		case fMetadata:
			if c.kind == oJSONB {
				e.buf = append(e.buf, 1)
			}
			e.buf = append(e.buf, metadataJSON(m.Metadata)...)
		case fTags:
			e.texts(c.kind, m.Tags)
		case fHash:
			e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(h))
		}
		binary.BigEndian.PutUint32(e.buf[at:], uint32(len(e.buf)-at-4))
	}
}

func (e *copyEncoder) arrayHeader(n int, elem uint32) {
	if n == 0 {
		e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // no dimensions
		e.buf = binary.BigEndian.AppendUint32(e.buf, 0) // no NULLs
		e.buf = binary.BigEndian.AppendUint32(e.buf, elem)
		return
	}
	e.buf = binary.BigEndian.AppendUint32(e.buf, 1)
	e.buf = binary.BigEndian.AppendUint32(e.buf, 0)
	e.buf = binary.BigEndian.AppendUint32(e.buf, elem)
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
	e.buf = binary.BigEndian.AppendUint32(e.buf, 1) // lower bound
}

func (e *copyEncoder) floats(k outKind, v []float32) {
	switch k {
	case oFloat4Array:
		e.arrayHeader(len(v), pgtype.Float4OID)
		for _, f := range v {
			e.buf = binary.BigEndian.AppendUint32(e.buf, 4)
			e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(f))
		}
	case oFloat8Array:
		e.arrayHeader(len(v), pgtype.Float8OID)
		for _, f := range v {
			e.buf = binary.BigEndian.AppendUint32(e.buf, 8)
			e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(float64(f)))
		}
	case oBytea:
		for _, f := range v {
			e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(f))
		}
	}
}

func (e *copyEncoder) texts(k outKind, v []string) {
	elem := uint32(pgtype.TextOID)
	if k == oVarcharArray {
		elem = pgtype.VarcharOID
	}
	e.arrayHeader(len(v), elem)
	for _, s := range v {
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(s)))
		e.buf = append(e.buf, s...)
	}
}

// vectorText renders an embedding in pgvector's text form, for the INSERT path.
func vectorText(v []float32) string {
	b := make([]byte, 0, 12*len(v)+2)
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32) // shortest form that reads back exactly
	}
	return string(append(b, ']'))
}
