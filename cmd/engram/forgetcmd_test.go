package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/engram-go/engram"
)

// TestForgetCommand: --dry-run counts and keeps, a real run forgets exactly the matches,
// several --where flags are and-ed, and a bad filter fails before the store is touched.
func TestForgetCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	store, err := engram.Open(path, engram.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := store.Space(context.Background(), "notes")
	if err != nil {
		t.Fatal(err)
	}
	var mems []engram.Memory
	for i := range 30 {
		cat := []string{"news", "chat", "code"}[i%3]
		mems = append(mems, engram.Memory{
			ID: "m" + string(rune('a'+i)), Content: "note " + cat, Embedding: []float32{1, float32(i), 0.5},
			Metadata: map[string]string{"cat": cat}, Tags: []string{map[bool]string{true: "old", false: "new"}[i < 10]},
		})
	}
	if _, err := sp.BatchRemember(context.Background(), mems); err != nil {
		t.Fatal(err)
	}
	store.Close()

	count := func() int {
		s, err := engram.Open(path, engram.WithReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sp, _ := s.LookupSpace("notes")
		return sp.Len()
	}
	dry := forgetCmd{Path: path, Space: "notes", Where: []string{"cat = news"}, Batch: 4, DryRun: true}
	if out := capture(t, dry.Run); !strings.Contains(out, "would forget 10 memories") {
		t.Fatalf("dry run: %q", out)
	}
	if n := count(); n != 30 {
		t.Fatalf("dry run forgot: %d left", n)
	}
	run := forgetCmd{Path: path, Space: "notes", Where: []string{"cat = news", "tag = old"}, Batch: 2}
	if out := capture(t, run.Run); !strings.Contains(out, "forgot 4 memories") || !strings.Contains(out, `cat = "news" and tag = "old"`) {
		t.Fatalf("run: %q", out)
	}
	if n := count(); n != 26 {
		t.Fatalf("%d left, want 26", n)
	}
	bad := forgetCmd{Path: path, Space: "notes", Where: []string{"cat = "}, Batch: 10}
	if err := bad.Run(); err == nil || !strings.Contains(err.Error(), "INVALID_QUERY") {
		t.Fatalf("bad filter: %v", err)
	}
	missing := forgetCmd{Path: path, Space: "nope", Where: []string{"true"}, Batch: 10}
	if err := missing.Run(); engram.CodeOf(err) != engram.CodeSpaceNotFound {
		t.Fatalf("unknown space: %v", err)
	}
	all := forgetCmd{Path: path, Space: "notes", Where: []string{"true"}, Batch: 7}
	if out := capture(t, all.Run); !strings.Contains(out, "forgot 26 memories") {
		t.Fatalf("all: %q", out)
	}
}

// FuzzWhere: the CLI's --where parsing never panics, whatever the text (through kong's
// flag parsing too), and a filter it accepts prints as text that parses back to the same
// text: the form `engram forget` echoes is one a user can paste back.
func FuzzWhere(f *testing.F) {
	for _, s := range []string{
		`cat = news`, `cat = "a b" and not (tag = x or tag = y)`, `score between 1 and 2`, `score > 3`,
		`created >= 2024-01-01T00:00:00Z`, `content contains "draft"`, `"tag" in (a, "b\n")`, `true`, `false`,
		`cat != "x"`, `((((a = b))))`, `a = b or c = d and e = f`, `x <= -Inf`, `created between "2024-01-01T00:00:00Z" and "2025-01-01T00:00:00.5+02:00"`,
		`a in ()`, `not not a = b`, `"" = ""`, `a = b and`, `tag in (x)`, `a between 2 and 1`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		where, err := parseWhere([]string{s})
		if err != nil {
			if engram.CodeOf(err) != engram.CodeInvalidQuery {
				t.Fatalf("%q: error without INVALID_QUERY: %v", s, err)
			}
		} else {
			text := where.String()
			again, err := parseWhere([]string{text})
			if err != nil {
				t.Fatalf("%q printed as %q, which does not parse: %v", s, text, err)
			}
			if again.String() != text {
				t.Fatalf("%q printed as %q, which prints as %q", s, text, again.String())
			}
		}
		var c cli
		parser, err := kong.New(&c, kong.Name("engram"), kong.Exit(func(int) {}))
		if err != nil {
			t.Fatal(err)
		}
		parser.Parse([]string{"forget", "--path", "x.db", "--space", "s", "--where", s}) // must not panic
	})
}
