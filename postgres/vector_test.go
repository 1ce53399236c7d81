package postgres

import (
	"context"
	"strings"
	"testing"
)

// The pgvector paths run against ENGRAM_PGVECTOR_DSN (PGlite with pgvector in CI).

func TestVectorExportImport(t *testing.T) {
	db := newTestDB(t, envVector)
	s, _ := testStore(t)
	ctx := context.Background()
	src := testSpace(t, s, "src")
	fillSpace(t, src, 300, 16)
	tbl := db.q("vecs")
	res, err := Export(ctx, db.pool, src, Target{Table: tbl, Create: true, Vector: true}, BatchSize(100))
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 300 || !res.Indexed || res.Method != "insert" {
		t.Errorf("%+v", res)
	}
	var typ, index string
	if err := db.admin.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'`, tbl).Scan(&typ); err != nil || typ != "vector(16)" {
		t.Errorf("embedding column: %q %v", typ, err)
	}
	if err := db.admin.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'vecs' AND indexdef LIKE '%hnsw%'`, db.schema).Scan(&index); err != nil || !strings.Contains(index, "vector_cosine_ops") {
		t.Errorf("HNSW index: %q %v", index, err)
	}
	// The server answers cosine queries on what was exported like the store does.
	q := src.Dim()
	_ = q
	var nearest string
	if err := db.admin.QueryRow(ctx, "SELECT id FROM "+tbl+" ORDER BY embedding <=> (SELECT embedding FROM "+tbl+" WHERE id = 'm-000042') LIMIT 1").Scan(&nearest); err != nil || nearest != "m-000042" {
		t.Errorf("nearest to m-000042 on the server: %q %v", nearest, err)
	}
	for _, m := range []Method{MethodCopy, MethodQuery} {
		back := testSpace(t, s, "back_"+m.String())
		if _, err := Import(ctx, db.pool, back, Source{Table: tbl}, ReadWith(m)); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if d := diffMemories(spaceMemories(t, src), spaceMemories(t, back)); len(d) > 0 {
			t.Errorf("%s: %d mismatches, e.g. %v", m, len(d), d[:min(5, len(d))])
		}
	}
}

func TestVectorImportForms(t *testing.T) {
	db := newTestDB(t, envVector)
	tbl := db.q("forms")
	db.exec(t, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v vector(3), h halfvec(3))")
	db.exec(t, "INSERT INTO "+tbl+" VALUES (1, '[1,2,3]', '[1,2,3]'), (2, '[-1,0.5,2]', '[-1,0.5,2]'), (3, NULL, NULL)")
	s, _ := testStore(t)
	for _, c := range []struct {
		name string
		src  Source
	}{
		{"binary", Source{Table: tbl, Mapping: Mapping{Embedding: "v"}}},
		{"half", Source{Table: tbl, Mapping: Mapping{Embedding: "h"}}},
		{"text", Source{Query: "SELECT id, v::text AS embedding FROM " + tbl}},
	} {
		res, got := importAll(t, db, s, c.name, c.src)
		if res.Stored != 2 || res.FailuresByCode["INVALID_EMBEDDING"] != 1 {
			t.Errorf("%s: %+v", c.name, res)
		}
		if !sameDirection(got["1"].Embedding, []float32{1, 2, 3}) || !sameDirection(got["2"].Embedding, []float32{-1, 0.5, 2}) {
			t.Errorf("%s: %v %v", c.name, got["1"].Embedding, got["2"].Embedding)
		}
	}
}

func TestVectorSync(t *testing.T) {
	db := newTestDB(t, envVector)
	testSync(t, db, true, true)
}
