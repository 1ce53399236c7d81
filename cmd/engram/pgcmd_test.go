package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5"
)

// pgDSN is the PostgreSQL server of the CLI's tests (.ci/run starts one; locally:
// eval "$(scripts/pg-test-server.sh start)"). Under CI a missing server fails the test.
func pgDSN(t *testing.T) string {
	dsn := os.Getenv("ENGRAM_PG_DSN")
	if dsn == "" {
		if os.Getenv("CI") != "" || os.Getenv("ENGRAM_REQUIRE_PG") == "1" {
			t.Fatal("ENGRAM_PG_DSN is not set (scripts/pg-test-server.sh start)")
		}
		t.Skip("ENGRAM_PG_DSN is not set: start test servers with eval \"$(scripts/pg-test-server.sh start)\"")
	}
	return dsn
}

func TestPGFlagsAreChecked(t *testing.T) {
	for _, c := range []struct {
		cmd  interface{ Run() error }
		want string
	}{
		{&importCmd{Path: "x", Space: "s", File: "f", pgImportFlags: pgImportFlags{From: "postgres://localhost/x", Table: "t"}}, "either a FILE or --from"},
		{&importCmd{Path: "x", Space: "s", pgImportFlags: pgImportFlags{From: "postgres://localhost/x"}}, "exactly one of --query and --table"},
		{&importCmd{Path: "x", Space: "s", Batch: 10, pgImportFlags: pgImportFlags{From: "postgres://localhost/x", Table: "t", Map: map[string]string{"vector": "v"}}}, "unknown field"},
		{&importCmd{Path: "x", Space: "s"}, "give a FILE"},
		{&exportCmd{Path: "x", Space: "s", File: "-", pgExportFlags: pgExportFlags{To: "postgres://localhost/x"}}, "--to needs --table"},
		{&exportCmd{Path: "x", Space: "s", File: "-", pgExportFlags: pgExportFlags{To: "postgres://localhost/x", Table: "t", Vector: true}}, "--create"},
		{&exportCmd{Path: "x", Space: "s", File: "out.jsonl", pgExportFlags: pgExportFlags{To: "postgres://localhost/x", Table: "t"}}, "either a FILE or --to"},
	} {
		if err := c.cmd.Run(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cmd, err, c.want)
		}
	}
}

func TestPGImportExportSync(t *testing.T) {
	dsn := pgDSN(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("cli_%d", rand.IntN(1e9))
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
	})
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"CREATE TABLE " + schema + ".docs (doc_id int PRIMARY KEY, body text, vec real[], author text)",
		"INSERT INTO " + schema + ".docs SELECT i, 'doc '||i, ARRAY[1, i, 2]::real[], 'a'||(i % 3) FROM generate_series(1, 300) i",
		"UPDATE " + schema + ".docs SET vec = '{1,2}' WHERE doc_id IN (100, 200)",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	store, errFile := filepath.Join(dir, "s.db"), filepath.Join(dir, "errors.jsonl")
	imp := &importCmd{Path: store, Space: "docs", Batch: 64, pgImportFlags: pgImportFlags{
		From: dsn, Table: schema + ".docs", Key: "doc_id", Errors: errFile, Read: "copy",
		Map: map[string]string{"content": "body", "embedding": "vec"}, MetadataColumns: []string{"author"}}}
	out := capture(t, imp.Run)
	if !strings.Contains(out, "300 read, 298 stored (0 replaced") || !strings.Contains(out, "DIMENSION_MISMATCH 2") || !strings.Contains(out, `checkpoint:  key "300"`) {
		t.Fatalf("import summary:\n%s", out)
	}
	f, err := os.Open(errFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []rowErrorLine
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var l rowErrorLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	f.Close()
	if len(lines) != 2 || lines[0].Key != "100" || lines[0].Column != "vec" || lines[0].Code != "DIMENSION_MISMATCH" || lines[1].Key != "200" {
		t.Errorf("errors file: %+v", lines)
	}
	// --resume: nothing new; after more rows arrive, only those.
	imp.Resume = true
	if _, err := admin.Exec(ctx, "INSERT INTO "+schema+".docs VALUES (301, 'late', '{1,1,1}', 'b')"); err != nil {
		t.Fatal(err)
	}
	out = capture(t, imp.Run)
	if !strings.Contains(out, `resumed:     after key "300"`) || !strings.Contains(out, "1 read, 1 stored") {
		t.Errorf("resumed import:\n%s", out)
	}

	// Export to a new table, then sync a change.
	exp := &exportCmd{Path: store, Space: "docs", File: "-", pgExportFlags: pgExportFlags{To: dsn, Table: schema + ".mirror", Create: true}}
	if err := exp.Run(); err != nil {
		t.Fatal(err)
	}
	var n int
	admin.QueryRow(ctx, "SELECT count(*) FROM "+schema+".mirror WHERE metadata->>'author' IS NOT NULL").Scan(&n)
	if n != 299 {
		t.Errorf("exported %d rows with their author, want 299", n)
	}
	s, err := engram.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := s.LookupSpace("docs")
	if _, err := sp.Forget(ctx, "1", "2"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	exp.Sync, exp.Create = true, false
	if err := exp.Run(); err != nil {
		t.Fatal(err)
	}
	admin.QueryRow(ctx, "SELECT count(*) FROM "+schema+".mirror").Scan(&n)
	if n != 297 {
		t.Errorf("after the sync the table has %d rows, want 297", n)
	}
}

// TestPGImportEmbeds: rows with text and no vector are embedded inside BatchRemember when
// --embedder is given, and fail with INVALID_EMBEDDING without one.
func TestPGImportEmbeds(t *testing.T) {
	dsn := pgDSN(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("cli_%d", rand.IntN(1e9))
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
	})
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"CREATE TABLE " + schema + ".notes (id int PRIMARY KEY, content text)",
		"INSERT INTO " + schema + ".notes SELECT i, 'note number '||i||' about topic '||(i % 5) FROM generate_series(1, 120) i",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	imp := &importCmd{Path: filepath.Join(dir, "s.db"), Space: "notes", Batch: 50, Dim: 64, Embed: embedderFlags{Embedder: "hash"},
		pgImportFlags: pgImportFlags{From: dsn, Table: schema + ".notes", Read: "copy"}}
	out := capture(t, imp.Run)
	if !strings.Contains(out, "120 read, 120 stored") {
		t.Fatalf("import with an embedder:\n%s", out)
	}
	plain := &importCmd{Path: filepath.Join(dir, "p.db"), Space: "notes", Batch: 50,
		pgImportFlags: pgImportFlags{From: dsn, Table: schema + ".notes", Read: "copy"}}
	out, err = runErr(t, plain.Run)
	if err == nil || !strings.Contains(out, "INVALID_EMBEDDING 120") {
		t.Errorf("import without an embedder: %v\n%s", err, out)
	}
}
