package engram

import (
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"
)

// FuzzBatchRemember sends arbitrary memories (decoded from the fuzzer's bytes: IDs,
// contents, metadata, confidences, embeddings of any length with any float bits) and checks
// that nothing panics, every item gets either an ID or a typed error, exactly the items
// without an error are stored, and each stored memory reads back as written.
func FuzzBatchRemember(f *testing.F) {
	f.Add([]byte("\x03abc\x04\x00\x00\x80?\x00\x00\x00\x00\x00\x00\x80?\x00\x00\x80?"))
	f.Add([]byte{0, 0, 0xff, 0xff, 0xc0, 0x7f, 1, 2, 3})
	dir := f.TempDir()
	s, err := Open(filepath.Join(dir, "fuzz.db"), WithNoSync(), WithAccessFlushInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	sp, err := s.Space(context.Background(), "fuzz", WithDimension(4))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mems := decodeMemories(data)
		res, err := sp.BatchRemember(context.Background(), mems)
		if len(mems) == 0 {
			if CodeOf(err) != CodeEmptyBatch {
				t.Fatalf("empty batch: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("whole-batch failure on valid storage: %v", err)
		}
		stored := 0
		for i, it := range res.Items {
			if it.Err != nil {
				if CodeOf(it.Err) == CodeUnknown {
					t.Fatalf("item %d: untyped error %v", i, it.Err)
				}
				continue
			}
			stored++
			m, err := sp.Get(context.Background(), it.ID)
			if err != nil {
				t.Fatalf("item %d stored as %q but Get fails: %v", i, it.ID, err)
			}
			if m.Content != mems[i].Content || len(m.Embedding) != 4 {
				t.Fatalf("item %d reads back differently", i)
			}
		}
		if stored != res.Stored {
			t.Fatalf("Stored = %d, items say %d", res.Stored, stored)
		}
	})
}

// decodeMemories turns fuzz bytes into memories: per memory a length-prefixed ID, a
// length-prefixed content, a confidence byte (255 = unset, else /200 so values above 1
// occur), a metadata pair, and a length-prefixed list of raw float32 bits.
func decodeMemories(b []byte) []Memory {
	var out []Memory
	take := func(n int) []byte {
		n = min(n, len(b))
		v := b[:n]
		b = b[n:]
		return v
	}
	for len(b) > 0 && len(out) < 16 {
		var m Memory
		m.ID = string(take(int(take(1)[0]) % 40))
		if hdr := take(1); len(hdr) == 1 {
			m.Content = string(take(int(hdr[0])))
		}
		if c := take(1); len(c) == 1 && c[0] != 255 {
			v := float32(c[0]) / 200
			if c[0] == 254 {
				v = float32(math.NaN())
			}
			m.Confidence = &v
		}
		if kv := take(2); len(kv) == 2 {
			m.Metadata = map[string]string{string(kv[:1]): string(kv[1:])}
		}
		if n := take(1); len(n) == 1 {
			for _, w := range chunks(take(int(n[0])%9*4), 4) {
				m.Embedding = append(m.Embedding, math.Float32frombits(binary.LittleEndian.Uint32(w)))
			}
		}
		out = append(out, m)
	}
	return out
}

func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) >= n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}
