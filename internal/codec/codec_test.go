package codec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

func sample() Record {
	return Record{
		Tier:       2,
		Confidence: 0.75,
		Created:    1_700_000_000_123_456_789,
		Norm:       3.5,
		Vec:        []float32{0.6, -0.8, 0, float32(math.Copysign(0, -1))},
		ID:         "mem-1",
		Content:    "the cat sat on the mat",
		Tags:       []string{"pets", "", "home"},
		Meta:       map[string]string{"source": "chat", "lang": "en", "": "empty key"},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{sample(), {Vec: []float32{1}}, {}} {
		b := Encode(nil, &r)
		if len(b) != EncodedLen(&r) {
			t.Fatalf("EncodedLen = %d, encoded %d bytes", EncodedLen(&r), len(b))
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Tags) == 0 {
			r.Tags = nil
		}
		if len(r.Meta) == 0 {
			r.Meta = nil
		}
		if len(r.Vec) == 0 {
			r.Vec = []float32{}
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, r)
		}
		if !bytes.Equal(Encode(nil, &got), b) {
			t.Fatal("re-encoding differs: encoding is not deterministic")
		}
	}
}

func TestDecodedRecordDoesNotAliasInput(t *testing.T) {
	r := sample()
	b := Encode(nil, &r)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xff // bbolt may reuse the page after the transaction
	}
	if got.Content != r.Content || got.ID != r.ID || got.Meta["source"] != "chat" || got.Tags[2] != "home" || got.Vec[0] != 0.6 {
		t.Fatalf("decoded record changed with its input: %#v", got)
	}
}

func TestViewFilters(t *testing.T) {
	r := sample()
	v, err := Parse(Encode(nil, &r))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tags []string
		meta map[string]string
		want bool
	}{
		{nil, nil, true},
		{[]string{"pets"}, nil, true},
		{[]string{"pets", "home"}, map[string]string{"lang": "en"}, true},
		{[]string{""}, map[string]string{"": "empty key"}, true},
		{[]string{"pets", "work"}, nil, false},
		{nil, map[string]string{"lang": "fr"}, false},
		{nil, map[string]string{"missing": ""}, false},
		{nil, map[string]string{"lang": "en", "source": "chat"}, true},
	} {
		if got := v.HasTags(c.tags) && v.HasMeta(c.meta); got != c.want {
			t.Errorf("tags %v meta %v: match = %v, want %v", c.tags, c.meta, got, c.want)
		}
	}
}

func TestCorruptRecordsAreRejected(t *testing.T) {
	r := sample()
	good := Encode(nil, &r)
	for i := 0; i < len(good); i++ {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit flip at %d: err = %v, want ErrCorrupt", i, err)
		}
	}
	for n := 0; n < len(good); n++ {
		if _, err := Decode(good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
}

func TestConfigRoundTripAndCorruption(t *testing.T) {
	c := Config{Metric: MetricCosine, Index: IndexHNSW, Dim: 768, Created: 42, ConfidenceWeight: 0.5, M: 16, EfConstruction: 200, EfSearch: 128, HNSWThreshold: 10000}
	b := EncodeConfig(c)
	got, err := DecodeConfig(b)
	if err != nil || got != c {
		t.Fatalf("DecodeConfig = %+v, %v", got, err)
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 1
		if _, err := DecodeConfig(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d accepted", i)
		}
	}
	if _, err := DecodeConfig(b[:5]); !errors.Is(err, ErrCorrupt) {
		t.Fatal("short config accepted")
	}
}

func TestAccessAndSeqKeys(t *testing.T) {
	a := Access{Last: -5, Count: 7}
	if got, err := DecodeAccess(EncodeAccess(a)); err != nil || got != a {
		t.Fatalf("access round trip = %+v %v", got, err)
	}
	if _, err := DecodeAccess([]byte{1}); !errors.Is(err, ErrCorrupt) {
		t.Fatal("short access accepted")
	}
	if bytes.Compare(SeqKey(255), SeqKey(256)) >= 0 {
		t.Fatal("seq keys do not sort numerically")
	}
	if s, err := KeySeq(SeqKey(1 << 40)); err != nil || s != 1<<40 {
		t.Fatalf("KeySeq = %d %v", s, err)
	}
	if _, err := KeySeq([]byte{1, 2}); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestPeekIDReadsOnlyUpToTheID(t *testing.T) {
	r := sample()
	b := Encode(nil, &r)
	if got := PeekID(b); string(got) != r.ID {
		t.Fatalf("PeekID = %q, want %q", got, r.ID)
	}
	damaged := bytes.Clone(b)
	damaged[len(damaged)-1] ^= 0xff // checksum broken, ID intact: still readable
	if got := PeekID(damaged); string(got) != r.ID {
		t.Fatalf("PeekID of a record with a bad checksum = %q, want %q", got, r.ID)
	}
	if _, err := Parse(damaged); err == nil {
		t.Fatal("Parse accepted a bad checksum")
	}
	for _, bad := range [][]byte{nil, b[:headerLen], b[:headerLen+4*len(r.Vec)+4], append([]byte{9}, b[1:]...)} {
		if got := PeekID(bad); got != nil {
			t.Errorf("PeekID(%x…) = %q, want nil", bad[:min(len(bad), 8)], got)
		}
	}
}

// TestConfigV2: the extended fields round-trip; a config without them is written as v1
// (readable by code that predates v2); a v2 config must use them.
func TestConfigV2(t *testing.T) {
	base := Config{Metric: MetricCosine, Dim: 8, M: 16, EfConstruction: 200, EfSearch: 64}
	if b := EncodeConfig(base); b[0] != ConfigVersion || len(b) != configLen {
		t.Fatalf("plain config written as version %d, %d bytes", b[0], len(b))
	}
	ext := base
	ext.Ext = ConfigExt{EmbedderName: "glove-sif", EmbedderDim: 100, TTL: 5e9, TTLRefresh: true}
	b := EncodeConfig(ext)
	if b[0] != ConfigVersionV2 {
		t.Fatalf("version %d", b[0])
	}
	got, err := DecodeConfig(b)
	if err != nil || got != ext {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	empty := append([]byte{}, EncodeConfig(base)...)
	empty = empty[:len(empty)-4]
	empty[0] = ConfigVersionV2
	empty = append(empty, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if _, err := DecodeConfig(seal(append(empty, 0, 0, 0, 0))); err == nil {
		t.Fatal("a v2 config without v2 fields decoded")
	}
}
