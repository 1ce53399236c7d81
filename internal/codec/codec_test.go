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

// TestRecordV2Expiry: a record with an expiry is written as v2 and reads back with it; one
// without stays v1, byte for byte what v1 code wrote; a v2 record claiming no expiry, or
// too short to hold one, is corrupt (each record has one encoding).
func TestRecordV2Expiry(t *testing.T) {
	r := sample()
	v1 := Encode(nil, &r)
	if v1[0] != RecordVersion {
		t.Fatalf("record without expiry written as v%d", v1[0])
	}
	r.Expires = 1_800_000_000_000_000_000
	v2 := Encode(nil, &r)
	if v2[0] != RecordVersionV2 || len(v2) != len(v1)+8 || len(v2) != EncodedLen(&r) {
		t.Fatalf("v2 record: version %d, %d bytes (v1 %d, EncodedLen %d)", v2[0], len(v2), len(v1), EncodedLen(&r))
	}
	got, err := Decode(v2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expires != r.Expires || got.ID != r.ID || got.Meta["lang"] != "en" {
		t.Fatalf("v2 round trip: %+v", got)
	}
	if id := PeekID(v2); string(id) != r.ID {
		t.Fatalf("PeekID of v2 = %q", id)
	}
	neg := r
	neg.Expires = -5 // before 1970: valid, not "never"
	if got, err := Decode(Encode(nil, &neg)); err != nil || got.Expires != -5 {
		t.Fatalf("negative expiry: %v %v", got.Expires, err)
	}
	// A v2 body whose expiry is 0, sealed with a valid checksum.
	zero := append([]byte(nil), v2[:len(v2)-12]...)
	zero = append(zero, make([]byte, 8)...)
	if _, err := Parse(reseal(zero)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("v2 with zero expiry: err = %v", err)
	}
	// A v1 record relabelled v2: no room for the expiry.
	short := append([]byte(nil), v1[:len(v1)-4]...)
	short[0] = RecordVersionV2
	if _, err := Parse(reseal(short)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("v2 without expiry bytes: err = %v", err)
	}
	// A v2 record relabelled v1: 8 trailing bytes.
	long := append([]byte(nil), v2[:len(v2)-4]...)
	long[0] = RecordVersion
	if _, err := Parse(reseal(long)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("v1 with trailing expiry: err = %v", err)
	}
	for _, ver := range []byte{0, 3, 255} {
		b := append([]byte(nil), v2[:len(v2)-4]...)
		b[0] = ver
		if _, err := Parse(reseal(b)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("version %d: err = %v", ver, err)
		}
	}
}

// reseal appends the CRC-32C of body.
func reseal(body []byte) []byte {
	return seal(append(body, 0, 0, 0, 0))
}

// TestViewAccessors: the per-field accessors filters use agree with the copying ones and
// do not allocate.
func TestViewAccessors(t *testing.T) {
	r := sample()
	r.Expires = 42
	v, err := Parse(Encode(nil, &r))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tag  string
		want bool
	}{{"pets", true}, {"", true}, {"home", true}, {"work", false}, {"pet", false}} {
		if got := v.HasTag(c.tag); got != c.want {
			t.Errorf("HasTag(%q) = %v", c.tag, got)
		}
	}
	for _, c := range []struct {
		key, val string
		ok       bool
	}{{"lang", "en", true}, {"", "empty key", true}, {"source", "chat", true}, {"missing", "", false}, {"lan", "", false}} {
		got, ok := v.MetaValue(c.key)
		if ok != c.ok || string(got) != c.val {
			t.Errorf("MetaValue(%q) = %q, %v", c.key, got, ok)
		}
	}
	if string(v.ContentBytes()) != r.Content || v.Expires != 42 {
		t.Fatalf("content %q expires %d", v.ContentBytes(), v.Expires)
	}
	var tags []string
	for tg := range v.TagBytes() {
		tags = append(tags, string(tg))
	}
	if !reflect.DeepEqual(tags, r.Tags) {
		t.Fatalf("TagBytes = %q", tags)
	}
	meta := map[string]string{}
	prev := ""
	for k, val := range v.MetaBytes() {
		if len(meta) > 0 && string(k) <= prev {
			t.Fatalf("MetaBytes not in key order: %q after %q", k, prev)
		}
		prev = string(k)
		meta[string(k)] = string(val)
	}
	if !reflect.DeepEqual(meta, r.Meta) {
		t.Fatalf("MetaBytes = %v", meta)
	}
	if n := testing.AllocsPerRun(100, func() {
		v.HasTag("home")
		v.MetaValue("source")
		for range v.TagBytes() {
		}
		for range v.MetaBytes() {
		}
	}); n != 0 {
		t.Fatalf("accessors allocate %v times", n)
	}
}
