package codec

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// ConfigVersion is the space-config format this package writes.
const ConfigVersion = 1

// Metric names the similarity a space ranks by. Only cosine exists today; the byte is
// persisted so a future metric cannot be mistaken for it.
type Metric uint8

// MetricCosine is cosine similarity on unit-normalized vectors.
const MetricCosine Metric = 1

// Config is a space's persisted configuration.
//
// Config v1 layout: u8 version, u8 metric, u8 index kind, u8 reserved, u32 dim (0 = not
// fixed yet), i64 created (Unix nanoseconds), f32 confidence weight, u32 CRC-32C.
type Config struct {
	Metric           Metric
	IndexKind        uint8
	Dim              int
	Created          int64
	ConfidenceWeight float32
}

const configLen = 24

// EncodeConfig returns the encoding of c.
func EncodeConfig(c Config) []byte {
	b := make([]byte, 0, configLen)
	b = append(b, ConfigVersion, byte(c.Metric), c.IndexKind, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Dim))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.Created))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.ConfidenceWeight))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeConfig parses b.
func DecodeConfig(b []byte) (Config, error) {
	if len(b) != configLen {
		return Config{}, corrupt("space config of %d bytes, want %d", len(b), configLen)
	}
	if b[0] != ConfigVersion {
		return Config{}, corrupt("unknown space config version %d", b[0])
	}
	if got, want := crc32.Checksum(b[:configLen-4], castagnoli), binary.LittleEndian.Uint32(b[configLen-4:]); got != want {
		return Config{}, corrupt("space config checksum %08x, want %08x", got, want)
	}
	c := Config{
		Metric:    Metric(b[1]),
		IndexKind: b[2],
		Dim:       int(binary.LittleEndian.Uint32(b[4:])),
		Created:   int64(binary.LittleEndian.Uint64(b[8:])),

		ConfidenceWeight: math.Float32frombits(binary.LittleEndian.Uint32(b[16:])),
	}
	if !(c.ConfidenceWeight >= 0 && c.ConfidenceWeight <= 1) {
		return Config{}, corrupt("confidence weight %v out of [0,1]", c.ConfidenceWeight)
	}
	if c.Metric != MetricCosine {
		return Config{}, corrupt("unknown metric %d", c.Metric)
	}
	if c.Dim < 0 || c.Dim > 1<<20 {
		return Config{}, corrupt("space dim %d out of range", c.Dim)
	}
	return c, nil
}

// Access is the recall bookkeeping of one memory, kept apart from its record so that
// flushing it rewrites 12 bytes instead of the whole memory.
type Access struct {
	Last  int64 // Unix nanoseconds, 0 = never
	Count uint32
}

// AccessLen is the encoded size of an Access.
const AccessLen = 12

// EncodeAccess returns the encoding of a (no version byte: the layout is fixed, and a
// changed layout would change the length, which DecodeAccess checks).
func EncodeAccess(a Access) []byte {
	b := make([]byte, AccessLen)
	binary.LittleEndian.PutUint64(b, uint64(a.Last))
	binary.LittleEndian.PutUint32(b[8:], a.Count)
	return b
}

// DecodeAccess parses b.
func DecodeAccess(b []byte) (Access, error) {
	if len(b) != AccessLen {
		return Access{}, corrupt("access entry of %d bytes, want %d", len(b), AccessLen)
	}
	return Access{Last: int64(binary.LittleEndian.Uint64(b)), Count: binary.LittleEndian.Uint32(b[8:])}, nil
}

// SeqKey is the bbolt key of a record: its sequence number, big-endian so that keys sort
// in insertion order and append-only inserts fill pages completely.
func SeqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// KeySeq decodes a SeqKey.
func KeySeq(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, corrupt("sequence key of %d bytes", len(k))
	}
	return binary.BigEndian.Uint64(k), nil
}
