package jsonl_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/synth"
)

// synthJSONL writes n synthetic memories exactly as `engram synth` does (cmd/engram's
// synthCmd): json.Encoder with default settings over the generator's memories.
func synthJSONL(t testing.TB, n, dim int) ([]byte, []engram.Memory) {
	t.Helper()
	g := synth.New(synth.Config{Seed: 7, Dim: dim, Topics: 4, IDPrefix: "mem"})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	mems := g.Batch(n)
	for _, m := range mems {
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes(), mems
}

// diff describes how two memories differ, or returns "" when they are the same memory.
// Floats are compared bit for bit (JSON round-trips float32 exactly, -0 included), times
// as instants (the location a parsed time gets depends on the process's time zone), and
// an empty map or slice equals a nil one (the JSON form omits both).
func diff(a, b engram.Memory) string {
	switch {
	case a.ID != b.ID:
		return fmt.Sprintf("id %q vs %q", a.ID, b.ID)
	case a.Content != b.Content:
		return fmt.Sprintf("content %q vs %q", a.Content, b.Content)
	case (a.Embedding == nil) != (b.Embedding == nil) || len(a.Embedding) != len(b.Embedding):
		return fmt.Sprintf("embedding %v vs %v", a.Embedding, b.Embedding)
	case (a.Confidence == nil) != (b.Confidence == nil):
		return fmt.Sprintf("confidence set %v vs %v", a.Confidence != nil, b.Confidence != nil)
	case a.Confidence != nil && math.Float32bits(*a.Confidence) != math.Float32bits(*b.Confidence):
		return fmt.Sprintf("confidence %v vs %v", *a.Confidence, *b.Confidence)
	case !a.CreatedAt.Equal(b.CreatedAt):
		return fmt.Sprintf("created_at %v vs %v", a.CreatedAt, b.CreatedAt)
	case !a.ExpiresAt.Equal(b.ExpiresAt):
		return fmt.Sprintf("expires_at %v vs %v", a.ExpiresAt, b.ExpiresAt)
	case !a.LastAccess.Equal(b.LastAccess):
		return fmt.Sprintf("last_access %v vs %v", a.LastAccess, b.LastAccess)
	case a.AccessCount != b.AccessCount:
		return fmt.Sprintf("access_count %d vs %d", a.AccessCount, b.AccessCount)
	case !maps.Equal(a.Metadata, b.Metadata):
		return fmt.Sprintf("metadata %v vs %v", a.Metadata, b.Metadata)
	case !slices.Equal(a.Tags, b.Tags):
		return fmt.Sprintf("tags %q vs %q", a.Tags, b.Tags)
	}
	for i := range a.Embedding {
		if math.Float32bits(a.Embedding[i]) != math.Float32bits(b.Embedding[i]) {
			return fmt.Sprintf("embedding[%d] %v vs %v", i, a.Embedding[i], b.Embedding[i])
		}
	}
	return ""
}
