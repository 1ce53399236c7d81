package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/alecthomas/kong"
	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
)

// readJSONL decodes a whole JSON Lines file, failing the test on any bad line.
func readJSONL(t *testing.T, data []byte) []engram.Memory {
	t.Helper()
	var out []engram.Memory
	for m, err := range jsonl.NewReader(bytes.NewReader(data)).All() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// runErr runs fn with stdout captured and returns its output and error.
func runErr(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	var err error
	out := capture(t, func() error { err = fn(); return nil })
	return out, err
}

// TestImportExportRoundTrip: synth → import (from a file and from standard input) →
// export gives back the same memories, embeddings up to the store's normalization.
func TestImportExportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "synth.jsonl")
	data := capture(t, (&synthCmd{N: 500, Dim: 24, Seed: 5, Topics: 4, Spread: 0.35, Prefix: "m"}).Run)
	if err := os.WriteFile(src, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	want := readJSONL(t, []byte(data))
	store := filepath.Join(dir, "store.db")

	out := capture(t, (&importCmd{Path: store, Space: "notes", Batch: 64, File: src}).Run)
	if !strings.Contains(out, "500 read, 500 stored (0 replaced") || strings.Contains(out, "failed") {
		t.Fatalf("import summary:\n%s", out)
	}
	// The same file again through standard input: every memory replaces itself.
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	out = capture(t, (&importCmd{Path: store, Space: "notes", Batch: 1000, Dim: 24, File: "-"}).Run)
	os.Stdin = stdin
	if !strings.Contains(out, "500 read, 500 stored (500 replaced") {
		t.Fatalf("second import summary:\n%s", out)
	}

	dst := filepath.Join(dir, "export.jsonl")
	capture(t, (&exportCmd{Path: store, Space: "notes", File: dst}).Run)
	exported, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if stdout := capture(t, (&exportCmd{Path: store, Space: "notes", File: "-"}).Run); stdout != string(exported) {
		t.Fatal("export to standard output differs from export to a file")
	}
	got := readJSONL(t, exported)
	if len(got) != len(want) {
		t.Fatalf("exported %d memories, want %d", len(got), len(want))
	}
	for i, w := range want { // write order is import order
		g := got[i]
		if g.ID != w.ID || g.Content != w.Content || g.Conf() != w.Conf() || !g.CreatedAt.Equal(w.CreatedAt) ||
			fmt.Sprint(g.Metadata) != fmt.Sprint(w.Metadata) || fmt.Sprint(g.Tags) != fmt.Sprint(w.Tags) {
			t.Fatalf("memory %d:\n got %+v\nwant %+v", i, g, w)
		}
		if g.CreatedAt.Location() != time.UTC {
			t.Fatalf("memory %d: created_at in %v, want UTC", i, g.CreatedAt.Location())
		}
		if len(g.Embedding) != len(w.Embedding) {
			t.Fatalf("memory %d: %d dimensions", i, len(g.Embedding))
		}
		var norm float64
		for _, x := range w.Embedding {
			norm += float64(x) * float64(x)
		}
		norm = math.Sqrt(norm)
		for j := range w.Embedding {
			if d := math.Abs(float64(g.Embedding[j]) - float64(w.Embedding[j])/norm); d > 1e-6 {
				t.Fatalf("memory %d component %d: %v vs %v", i, j, g.Embedding[j], w.Embedding[j])
			}
		}
	}
}

func TestImportBadLines(t *testing.T) {
	dir := t.TempDir()
	// Batches of 6 memories: lines 1-9 (bad and blank lines take no place), then 10-14.
	lines := []string{
		`{"id":"a","content":"first","embedding":[1,0,0]}`, // 1 stored
		`{"id":"b","content":"cut short","embedding":[1,`,  // 2 bad: truncated
		``, // 3 blank
		`{"id":"c","content":"second","embedding":[0,1,0],"tags":["x"]}`,     // 4 stored
		`{"id":"zero","embedding":[0,0,0]}`,                                  // 5 INVALID_EMBEDDING
		`{"id":"short","embedding":[1,0]}`,                                   // 6 DIMENSION_MISMATCH
		`{"id":"d","Content":"wrong case"}`,                                  // 7 bad: unknown field
		`{"id":"e","content":"third","embedding":[0,0,1],"confidence":0.5}`,  // 8 stored
		`{"id":"e","content":"again","embedding":[0,0,2]}`,                   // 9 DUPLICATE_ID (same batch)
		`{"id":"f","embedding":[1,1,1],"confidence":2}`,                      // 10 INVALID_CONFIDENCE
		`{"id":"g","embedding":["NaN",1,1]}`,                                 // 11 bad: wrong type
		"{\"id\":\"h\xff\",\"embedding\":[1,1,1]}",                           // 12 bad: invalid UTF-8
		`{"id":"i","embedding":[1,2,3],"created_at":"1500-01-01T00:00:00Z"}`, // 13 INVALID_TIMESTAMP
		`{"id":"a","content":"first, replaced","embedding":[2,0,0]}`,         // 14 stored, replaces line 1
	}
	src := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(src, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store.db")
	out := capture(t, (&importCmd{Path: store, Space: "notes", Batch: 6, File: src}).Run)
	for _, want := range []string{
		"lines read:  14",
		"9 read, 4 stored (1 replaced",
		"failed:      5 (",
		"INVALID_EMBEDDING 1", "DIMENSION_MISMATCH 1", "DUPLICATE_ID 1", "INVALID_CONFIDENCE 1", "INVALID_TIMESTAMP 1",
		"line 5: INVALID_EMBEDDING (id \"zero\")",
		"line 9: DUPLICATE_ID (id \"e\")",
		"line 13: INVALID_TIMESTAMP",
		"bad lines:   4",
		"line 2: the line ends inside its JSON object",
		"line 7: unknown field \"Content\"",
		"line 11: field \"embedding\": expected a number, found a string",
		"line 12: invalid UTF-8",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	s, err := engram.Open(store, engram.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, err := s.LookupSpace("notes")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for m, err := range sp.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID+":"+m.Content)
	}
	if got := strings.Join(ids, " "); got != "c:second e:third a:first, replaced" {
		t.Fatalf("stored %s", got)
	}
}

// TestImportReportsAtMostTen: a file of many bad lines lists the first ten and counts the rest.
func TestImportReportsAtMostTen(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(`{"embedding":[1,0]}` + "\n")
	for range 25 {
		b.WriteString("not json\n" + `{"embedding":[0,0]}` + "\n")
	}
	src := filepath.Join(dir, "in.jsonl")
	os.WriteFile(src, []byte(b.String()), 0o600)
	out := capture(t, (&importCmd{Path: filepath.Join(dir, "s.db"), Space: "s", Batch: 1000, File: src}).Run)
	if strings.Count(out, "not a JSON value") != 10 || strings.Count(out, "INVALID_EMBEDDING:") != 10 ||
		!strings.Contains(out, "... and 15 more") || !strings.Contains(out, "1 stored") {
		t.Fatalf("summary:\n%s", out)
	}
}

func TestImportFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	store := filepath.Join(dir, "s.db")
	for name, tc := range map[string]struct {
		cmd  importCmd
		want string
	}{
		"nothing importable": {importCmd{File: write("bad.jsonl", "{\n[]\n"+`{"embedding":[]}`)}, "nothing was imported"},
		"empty input":        {importCmd{File: write("empty.jsonl", "\n\n")}, "nothing was imported"},
		"missing file":       {importCmd{File: filepath.Join(dir, "nope.jsonl")}, "no such file"},
		"batch too large":    {importCmd{Batch: 100_001, File: "-"}, "--batch"},
		"dimension conflict": {importCmd{Dim: 3, File: write("ok.jsonl", `{"embedding":[1,0]}`)}, "--dim 3 disagrees with the file: its first memory (line 1) has 2 dimensions"},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.cmd
			c.Path, c.Space = store, "s"
			if c.Batch == 0 {
				c.Batch = 1000
			}
			if name == "dimension conflict" { // the space exists with dimension 2
				capture(t, (&importCmd{Path: store, Space: "s", Batch: 10, File: c.File}).Run)
			}
			_, err := runErr(t, c.Run)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestImportStopsOnWholeBatchFailure: a batch that fails as a whole (here: ctx ended)
// stops the import and is reported, with the line from which nothing was imported.
func TestImportStopsOnWholeBatchFailure(t *testing.T) {
	s, err := engram.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, err := s.Space(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := "\n" + strings.Repeat(`{"embedding":[1,2]}`+"\n", 30)
	sum := importJSONL(ctx, sp, strings.NewReader(in), 10)
	if sum.abort == nil || sum.stored != 0 || sp.Len() != 0 {
		t.Fatalf("abort %v, stored %d, len %d", sum.abort, sum.stored, sp.Len())
	}
	var buf bytes.Buffer
	sum.print(&buf)
	if !strings.Contains(buf.String(), "stopped:     at line") {
		t.Fatalf("summary:\n%s", buf.String())
	}
	if sum.abortLine != 2 && sum.abortLine != 1 { // the first batch's first line, or none handled yet
		t.Fatalf("abort line %d", sum.abortLine)
	}
}

// TestImportStopsOnReadError: memories before a failing read are stored, and the failure
// is reported with the line it happened on.
func TestImportStopsOnReadError(t *testing.T) {
	s, err := engram.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, err := s.Space(context.Background(), "s")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset")
	in := io.MultiReader(strings.NewReader(strings.Repeat(`{"embedding":[1,2]}`+"\n", 25)), iotest.ErrReader(boom))
	sum := importJSONL(context.Background(), sp, in, 10)
	if !errors.Is(sum.abort, boom) || sum.abortLine != 26 || sum.stored != 25 || sp.Len() != 25 {
		t.Fatalf("abort %v at line %d, stored %d, len %d", sum.abort, sum.abortLine, sum.stored, sp.Len())
	}
}

func TestExportFailures(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "s.db")
	src := filepath.Join(dir, "in.jsonl")
	os.WriteFile(src, []byte(`{"id":"x","embedding":[1,0]}`), 0o600)
	capture(t, (&importCmd{Path: store, Space: "s", Batch: 10, File: src}).Run)
	dst := filepath.Join(dir, "out.jsonl")
	os.WriteFile(dst, []byte("old"), 0o600)
	if _, err := runErr(t, (&exportCmd{Path: store, Space: "nope", File: dst}).Run); engram.CodeOf(err) != engram.CodeSpaceNotFound {
		t.Fatalf("unknown space: %v", err)
	}
	if _, err := runErr(t, (&exportCmd{Path: filepath.Join(dir, "missing.db"), Space: "s", File: dst}).Run); err == nil {
		t.Fatal("exported from a missing store")
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("a failed export touched the destination: %q", b)
	}
	// A failure once the output exists (an interrupted scan, a full disk) leaves the
	// destination as it was and no temporary file behind.
	out, commit, err := createOutput(dst)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(out, "partial")
	if err := commit(context.Canceled); err != context.Canceled {
		t.Fatalf("commit: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Fatalf("a failed export touched the destination: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".out.jsonl.*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestCLIParsesImportExport: the sub-commands are registered and "-" is a file argument.
func TestCLIParsesImportExport(t *testing.T) {
	var c cli
	p, err := kong.New(&c, kong.Name("engram"), kong.Exit(func(int) { t.Fatal("exit") }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := p.Parse([]string{"import", "--path", "s.db", "--space", "notes", "--dim", "8", "-"})
	if err != nil || ctx.Command() != "import <file>" || c.Import.File != "-" || c.Import.Batch != 1000 || c.Import.Dim != 8 {
		t.Fatalf("import: %v %q %+v", err, ctx.Command(), c.Import)
	}
	ctx, err = p.Parse([]string{"export", "--path", "s.db", "--space", "notes"})
	if err != nil || ctx.Command() != "export" || c.Export.File != "-" {
		t.Fatalf("export: %v %q %+v", err, ctx.Command(), c.Export)
	}
}
