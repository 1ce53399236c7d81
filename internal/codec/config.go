package codec

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// Space-config versions. A config that uses nothing beyond v1 is written as v1, so spaces
// without the newer settings stay readable by older code; v2 appends the extended fields.
const (
	ConfigVersion   = 1
	ConfigVersionV2 = 2
)

// Metric names the similarity a space ranks by. Only cosine exists today; the byte is
// persisted so a future metric cannot be mistaken for it.
type Metric uint8

// MetricCosine is cosine similarity on unit-normalized vectors.
const MetricCosine Metric = 1

// Index choices persisted in a space config.
const (
	IndexAuto uint8 = 0 // exact while small, HNSW from HNSWThreshold memories on
	IndexFlat uint8 = 1 // always exact
	IndexHNSW uint8 = 2 // always HNSW
)

// Config is a space's persisted configuration.
//
// Config v1 layout (little-endian): u8 version, u8 metric, u8 index choice, u8 reserved,
// u32 dim (0 = not fixed yet), i64 created (Unix nanoseconds), f32 confidence weight,
// u16 HNSW M, u16 HNSW efConstruction, u16 HNSW efSearch, u16 reserved,
// u32 HNSW threshold,
// tiering: u32 hot capacity (0 = off), f32 high watermark, f32 low watermark,
// u32 activation half-life (s), u32 warm idle (s), u32 max per cycle, u32 batch size,
// u8 flags (1 promote on recall, 2 promote on get), u8 backpressure mode, u16 reserved,
// decay: u8 kind, 3 reserved, u32 half-life (s), u32 scale (s), f32 exponent, f32 floor,
// f32 recency boost,
// u32 CRC-32C.
//
// Config v2 is v1 without its CRC, then: u16 embedder-name length, the name's bytes (at
// most MaxEmbedderName), u32 embedder dim, i64 default TTL (nanoseconds, 0 = none), u8
// flags (1 = a recall extends the TTL), u8 × 3 reserved, u32 CRC-32C of everything before.
type Config struct {
	Metric           Metric
	Index            uint8
	Dim              int
	Created          int64
	ConfidenceWeight float32
	M                int
	EfConstruction   int
	EfSearch         int
	HNSWThreshold    int
	Tiering          Tiering
	Decay            Decay
	Ext              ConfigExt
}

// ConfigExt are the fields of config v2.
type ConfigExt struct {
	// EmbedderName and EmbedderDim record the embedder that made the space's vectors.
	EmbedderName string
	EmbedderDim  int
	// TTL is the default time-to-live of memories written without an expiry; TTLRefresh
	// extends it on recall.
	TTL        int64
	TTLRefresh bool
}

// MaxEmbedderName bounds a recorded embedder name, in bytes.
const MaxEmbedderName = 1024

// Tiering is the persisted tier policy (see tier.Policy).
type Tiering struct {
	HotCapacity              int
	High, Low                float32
	HalfLifeSec, WarmIdleSec uint32
	MaxPerCycle, BatchSize   int
	Promote, Backpressure    uint8
}

// Decay is the persisted confidence decay (see tier.Decay).
type Decay struct {
	Kind                   uint8
	HalfLifeSec, ScaleSec  uint32
	Exponent, Floor, Boost float32
}

const configLen = 36 + 32 + 24

// EncodeConfig returns the encoding of c.
func EncodeConfig(c Config) []byte {
	b := make([]byte, 0, configLen)
	b = append(b, ConfigVersion, byte(c.Metric), c.Index, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Dim))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.Created))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.ConfidenceWeight))
	b = binary.LittleEndian.AppendUint16(b, uint16(c.M))
	b = binary.LittleEndian.AppendUint16(b, uint16(c.EfConstruction))
	b = binary.LittleEndian.AppendUint16(b, uint16(c.EfSearch))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(c.HNSWThreshold))
	t := c.Tiering
	b = binary.LittleEndian.AppendUint32(b, uint32(t.HotCapacity))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(t.High))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(t.Low))
	b = binary.LittleEndian.AppendUint32(b, t.HalfLifeSec)
	b = binary.LittleEndian.AppendUint32(b, t.WarmIdleSec)
	b = binary.LittleEndian.AppendUint32(b, uint32(t.MaxPerCycle))
	b = binary.LittleEndian.AppendUint32(b, uint32(t.BatchSize))
	b = append(b, t.Promote, t.Backpressure, 0, 0)
	d := c.Decay
	b = append(b, d.Kind, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, d.HalfLifeSec)
	b = binary.LittleEndian.AppendUint32(b, d.ScaleSec)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(d.Exponent))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(d.Floor))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(d.Boost))
	if c.Ext != (ConfigExt{}) {
		b[0] = ConfigVersionV2
		e := c.Ext
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.EmbedderName)))
		b = append(b, e.EmbedderName...)
		b = binary.LittleEndian.AppendUint32(b, uint32(e.EmbedderDim))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.TTL))
		var flags byte
		if e.TTLRefresh {
			flags |= 1
		}
		b = append(b, flags, 0, 0, 0)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeConfig parses b.
func DecodeConfig(b []byte) (Config, error) {
	if len(b) < configLen {
		return Config{}, corrupt("space config of %d bytes, want at least %d", len(b), configLen)
	}
	if got, want := crc32.Checksum(b[:len(b)-4], castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return Config{}, corrupt("space config checksum %08x, want %08x", got, want)
	}
	var ext ConfigExt
	switch b[0] {
	case ConfigVersion:
		if len(b) != configLen {
			return Config{}, corrupt("space config v1 of %d bytes, want %d", len(b), configLen)
		}
	case ConfigVersionV2:
		var err error
		if ext, err = decodeExt(b[configLen-4 : len(b)-4]); err != nil {
			return Config{}, err
		}
	default:
		return Config{}, corrupt("unknown space config version %d", b[0])
	}
	// Reserved bytes must be zero: each config has one encoding.
	for _, off := range []int{3, 26, 27, 62, 63, 65, 66, 67} {
		if b[off] != 0 {
			return Config{}, corrupt("reserved space config byte %d is %d", off, b[off])
		}
	}
	c := Config{
		Metric:           Metric(b[1]),
		Index:            b[2],
		Dim:              int(binary.LittleEndian.Uint32(b[4:])),
		Created:          int64(binary.LittleEndian.Uint64(b[8:])),
		ConfidenceWeight: math.Float32frombits(binary.LittleEndian.Uint32(b[16:])),
		M:                int(binary.LittleEndian.Uint16(b[20:])),
		EfConstruction:   int(binary.LittleEndian.Uint16(b[22:])),
		EfSearch:         int(binary.LittleEndian.Uint16(b[24:])),
		HNSWThreshold:    int(binary.LittleEndian.Uint32(b[28:])),
	}
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	f32 := func(off int) float32 { return math.Float32frombits(u32(off)) }
	c.Tiering = Tiering{
		HotCapacity: int(u32(32)), High: f32(36), Low: f32(40), HalfLifeSec: u32(44), WarmIdleSec: u32(48),
		MaxPerCycle: int(u32(52)), BatchSize: int(u32(56)),
		Promote: b[60], Backpressure: b[61],
	}
	c.Decay = Decay{Kind: b[64], HalfLifeSec: u32(68), ScaleSec: u32(72), Exponent: f32(76), Floor: f32(80), Boost: f32(84)}
	c.Ext = ext
	switch {
	case c.Metric != MetricCosine:
		return Config{}, corrupt("unknown metric %d", c.Metric)
	case c.Index > IndexHNSW:
		return Config{}, corrupt("unknown index choice %d", c.Index)
	case c.Dim < 0 || c.Dim > 1<<20:
		return Config{}, corrupt("space dim %d out of range", c.Dim)
	case !(c.ConfidenceWeight >= 0 && c.ConfidenceWeight <= 1):
		return Config{}, corrupt("confidence weight %v out of [0,1]", c.ConfidenceWeight)
	case c.M < 2 || c.EfConstruction < 1 || c.EfSearch < 1:
		return Config{}, corrupt("HNSW parameters M=%d efc=%d ef=%d", c.M, c.EfConstruction, c.EfSearch)
	case c.Tiering.HotCapacity < 0 || c.Tiering.Backpressure > 1 || c.Decay.Kind > 2 ||
		!(c.Tiering.High >= 0 && c.Tiering.High <= 10) || !(c.Tiering.Low >= 0 && c.Tiering.Low <= 10) ||
		!(c.Decay.Floor >= 0 && c.Decay.Floor <= 1) || !(c.Decay.Exponent >= 0 && c.Decay.Exponent < 1e6) ||
		!(c.Decay.Boost >= 0 && c.Decay.Boost < 1e6):
		return Config{}, corrupt("tier or decay settings out of range")
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

// decodeExt parses the v2 tail (without the CRC).
func decodeExt(t []byte) (ConfigExt, error) {
	var e ConfigExt
	if len(t) < 2 {
		return e, corrupt("space config v2 tail of %d bytes", len(t))
	}
	n := int(binary.LittleEndian.Uint16(t))
	if n > MaxEmbedderName || len(t) != 2+n+4+8+4 {
		return e, corrupt("space config v2 tail of %d bytes with a name of %d", len(t), n)
	}
	e.EmbedderName = string(t[2 : 2+n])
	t = t[2+n:]
	e.EmbedderDim = int(binary.LittleEndian.Uint32(t))
	e.TTL = int64(binary.LittleEndian.Uint64(t[4:]))
	flags := t[12]
	e.TTLRefresh = flags&1 != 0
	if flags&^1 != 0 || t[13] != 0 || t[14] != 0 || t[15] != 0 || e.TTL < 0 || e.EmbedderDim < 0 || e.EmbedderDim > 1<<20 {
		return e, corrupt("space config v2 fields out of range")
	}
	if e == (ConfigExt{}) {
		return e, corrupt("space config v2 without v2 fields") // one encoding per config
	}
	return e, nil
}
