package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram"
)

// TestExportImportCarryExpiry: export writes each memory's expires_at, import keeps it,
// and an export leaves out memories that have expired.
func TestExportImportCarryExpiry(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s, err := engram.Open(src, engram.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := s.Space(context.Background(), "notes")
	at := time.Date(2200, 1, 2, 3, 4, 5, 6000, time.UTC)
	_, err = sp.BatchRemember(context.Background(), []engram.Memory{
		{ID: "later", Embedding: []float32{1, 0}, ExpiresAt: at},
		{ID: "gone", Embedding: []float32{0, 1}, ExpiresAt: time.Now().Add(-time.Hour)},
		{ID: "never", Embedding: []float32{1, 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	file := filepath.Join(dir, "out.jsonl")
	capture(t, (&exportCmd{Path: src, Space: "notes", File: file}).Run)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"gone"`) || !strings.Contains(string(data), `"expires_at":"2200-01-02T03:04:05.000006Z"`) ||
		strings.Count(string(data), "expires_at") != 1 {
		t.Fatalf("export:\n%s", data)
	}
	dst := filepath.Join(dir, "dst.db")
	capture(t, (&importCmd{Path: dst, Space: "notes", Batch: 10, File: file}).Run)
	s, err = engram.Open(dst, engram.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, _ = s.LookupSpace("notes")
	m, err := sp.Get(context.Background(), "later")
	if err != nil || !m.ExpiresAt.Equal(at) {
		t.Fatalf("imported: %v %v", m.ExpiresAt, err)
	}
	if n, _ := sp.Get(context.Background(), "never"); !n.ExpiresAt.IsZero() || sp.Len() != 2 {
		t.Fatalf("never: %v, Len %d", n.ExpiresAt, sp.Len())
	}
}
