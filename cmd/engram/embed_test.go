package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTextImportAndQuery: `synth --text` writes text-only memories, `import --embedder
// hash` embeds them in the store, `query --text` finds one by its own text, and the space
// refuses to be queried with another embedder than the one that made its vectors.
func TestTextImportAndQuery(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "text.jsonl")
	r := runCLI(t, "", "synth", "-n", "300", "--text", "--prefix", "t")
	r.want(t, 0)
	if err := os.WriteFile(src, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(r.stdout, "\n", 2)[0]
	if !strings.Contains(first, `"embedding":null`) {
		t.Fatalf("synth --text wrote an embedding: %s", first)
	}
	store := filepath.Join(dir, "s.db")
	// Without an embedder the text-only lines are rejected, and nothing is left behind.
	runCLI(t, "", "import", "--path", store, "--space", "notes", src).want(t, 1, "INVALID_EMBEDDING")
	runCLI(t, "", "import", "--path", store, "--space", "notes", "--embedder", "hash", "--dim", "128", src).want(t, 0, "300 stored")
	runCLI(t, "", "query", "--path", store, "--space", "notes", "--embedder", "hash", "--text", textOf(t, first), "-k", "1").
		want(t, 0, "t-000000")
	runCLI(t, "", "query", "--path", store, "--space", "notes", "--text", "x").want(t, 2, "--text and --embedder go together")
	runCLI(t, "", "stats", "--path", store, "--space", "notes", "--json").want(t, 0, "hash:v1")
}

// textOf returns the content of a JSON line.
func textOf(t *testing.T, line string) string {
	t.Helper()
	_, rest, ok := strings.Cut(line, `"content":"`)
	if !ok {
		t.Fatalf("no content in %s", line)
	}
	text, _, _ := strings.Cut(rest, `"`)
	return text
}
