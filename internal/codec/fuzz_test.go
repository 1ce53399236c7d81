package codec

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzDecodeRecord: arbitrary bytes never panic, and whatever decodes re-encodes to the
// same bytes (the format has one encoding per record).
func FuzzDecodeRecord(f *testing.F) {
	r := sample()
	f.Add(Encode(nil, &r))
	f.Add(Encode(nil, &Record{Vec: []float32{1}}))
	r.Expires = 1_800_000_000_000_000_000
	f.Add(Encode(nil, &r))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		id := PeekID(b) // must not panic on anything
		rec, err := Decode(b)
		if err != nil {
			return
		}
		if string(id) != rec.ID {
			t.Fatalf("PeekID = %q, Decode's ID %q", id, rec.ID)
		}
		v, _ := Parse(b)
		v.HasTags([]string{"a"})
		v.HasMeta(map[string]string{"a": "b"})
		checkAccessors(t, &v, &rec)
		if again := Encode(nil, &rec); !bytes.Equal(again, b) && !hasDupMeta(b) {
			t.Fatalf("decode/encode not stable:\n in %x\nout %x", b, again)
		}
	})
}

// hasDupMeta reports whether the input carried metadata that a map folds (duplicate or
// unsorted keys): such input decodes fine but cannot re-encode byte for byte.
func hasDupMeta(b []byte) bool {
	v, err := Parse(b)
	if err != nil {
		return false
	}
	r := reader{b: v.meta}
	n := r.count()
	prev := ""
	for i := 0; i < n; i++ {
		k := string(r.bytes())
		r.bytes()
		if i > 0 && k <= prev {
			return true
		}
		prev = k
	}
	return false
}

// FuzzDecodeConfig: configs decode without panics, and one that decodes re-encodes to the
// same bytes. Inputs are sealed with a valid checksum (the fuzzer would rarely get past it)
// — unless they already carry one, as the seeds do.
func FuzzDecodeConfig(f *testing.F) {
	f.Add(EncodeConfig(Config{Metric: MetricCosine, Dim: 100, M: 16, EfConstruction: 200, EfSearch: 128}))
	f.Add(EncodeConfig(Config{Metric: MetricCosine, Dim: 384, M: 16, EfConstruction: 200, EfSearch: 128,
		Ext: ConfigExt{EmbedderName: "hash:v1;dim=384", EmbedderDim: 384, TTL: 3600e9, TTLRefresh: true}}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, seal(b)} {
			c, err := DecodeConfig(in)
			if err == nil && !bytes.Equal(EncodeConfig(c), in) {
				t.Fatalf("config decode/encode not stable:\n in %x\nout %x", in, EncodeConfig(c))
			}
		}
	})
}

// seal replaces the last four bytes of b (or appends them, for short input) with the
// CRC-32C of the rest.
func seal(b []byte) []byte {
	body := bytes.Clone(b[:max(len(b)-4, 0)])
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

// FuzzParseRecordBody seals arbitrary bodies with a valid checksum so the fuzzer explores
// the structure behind the CRC instead of bouncing off it.
func FuzzParseRecordBody(f *testing.F) {
	r := sample()
	good := Encode(nil, &r)
	f.Add(good[:len(good)-4])
	r.Expires = -1
	v2 := Encode(nil, &r)
	f.Add(v2[:len(v2)-4])
	f.Add(make([]byte, headerLen))
	f.Fuzz(func(t *testing.T, body []byte) {
		b := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
		v, err := Parse(b)
		if err != nil {
			return
		}
		rec := v.Record()
		if len(rec.Vec) != v.Dim || rec.ID != v.ID() {
			t.Fatalf("view and record disagree")
		}
		v.HasTags([]string{"pets"})
		v.HasMeta(map[string]string{"lang": "en"})
		checkAccessors(t, &v, &rec)
		// One encoding per record, behind the checksum too.
		if again := Encode(nil, &rec); !bytes.Equal(again, b) && !hasDupMeta(b) {
			t.Fatalf("parse/encode not stable:\n in %x\nout %x", b, again)
		}
	})
}

// checkAccessors: the aliasing accessors filters use agree with the decoded record.
func checkAccessors(t *testing.T, v *View, rec *Record) {
	t.Helper()
	if string(v.ContentBytes()) != rec.Content || v.Expires != rec.Expires || (v.Expires != 0) != (v2(rec)) {
		t.Fatalf("content or expiry disagree")
	}
	n := 0
	for tg := range v.TagBytes() {
		if !v.HasTag(string(tg)) || string(tg) != rec.Tags[n] {
			t.Fatalf("tag %q", tg)
		}
		n++
	}
	for k, val := range v.MetaBytes() {
		got, ok := v.MetaValue(string(k))
		if !ok || (!bytes.Equal(got, val) && !hasDupMetaView(v)) {
			t.Fatalf("meta %q", k)
		}
	}
}

func v2(rec *Record) bool { return rec.version() == RecordVersionV2 }

func hasDupMetaView(v *View) bool {
	seen := map[string]bool{}
	for k := range v.MetaBytes() {
		if seen[string(k)] {
			return true
		}
		seen[string(k)] = true
	}
	return false
}
