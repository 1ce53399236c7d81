package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram"
)

// typesTable creates a table with a column of every type a field can come from, and three
// rows: two full ones and one of NULLs (but its key).
func typesTable(t *testing.T, db *testDB) string {
	t.Helper()
	tbl := db.q("types")
	db.exec(t, "CREATE EXTENSION IF NOT EXISTS hstore")
	db.exec(t, `CREATE TABLE `+tbl+` (
		id bigint PRIMARY KEY, uid uuid, content text, body varchar(100), raw bytea,
		e_real real[], e_double double precision[], e_bytea bytea, e_jsonb jsonb, e_json json, e_text text,
		c_real real, c_double double precision, c_numeric numeric(4,3), c_int smallint,
		t_tz timestamptz, t_plain timestamp, t_date date,
		m_jsonb jsonb, m_json json, m_hstore hstore, m_text text,
		g_text text[], g_varchar varchar(20)[], g_jsonb jsonb,
		author text, stars int)`)
	db.exec(t, `INSERT INTO `+tbl+` VALUES
		(1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'first', 'first body', '\x6869',
		 '{1,2,3}', '{1.5,2.5,3.5}', '\x0000803f0000004000004040', '[1, 2, 3]', '[1,2,3]', '[1,2,3]',
		 0.25, 0.5, 0.125, 1,
		 '2024-03-01 12:34:56.789012+02', '2024-03-01 12:34:56.789012', '2024-03-01',
		 '{"a": "x", "n": 1.50, "b": true, "o": {"k": [1, 2]}, "z": null}', '{"a":"y"}', 'a=>1, b=>NULL', '{"t": "text"}',
		 '{red,green}', '{blue,NULL}', '["x", "y"]',
		 'ada', 5),
		(2, NULL, 'second', NULL, NULL,
		 '{-1,0.5,2}', '{-1,0.5,2}', '\x000080bf0000003f00000040', '[-1,0.5,2]', '[-1,0.5,2]', '[-1, 0.5, 2e0]',
		 1, 0, 0.000, 0,
		 '1999-12-31 23:59:59.000001+00', '1999-12-31 23:59:59.000001', '1999-12-31',
		 '{}', '{}', '', '{}',
		 '{}', '{}', '[]',
		 NULL, NULL),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	return tbl
}

// importAll runs Import into a new space of s and returns its memories by ID.
func importAll(t *testing.T, db *testDB, s *engram.Store, space string, src Source, opts ...Option) (*ImportResult, map[string]engram.Memory) {
	t.Helper()
	ctx := context.Background()
	sp := testSpace(t, s, space)
	res, err := Import(ctx, db.pool, sp, src, opts...)
	if err != nil {
		t.Fatalf("Import %s: %v", space, err)
	}
	return res, spaceMemories(t, sp)
}

func spaceMemories(t testing.TB, sp *engram.Space) map[string]engram.Memory {
	t.Helper()
	out := make(map[string]engram.Memory)
	for m, err := range sp.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		out[m.ID] = m
	}
	return out
}

// sameDirection reports whether a stored (normalized) embedding points along want.
func sameDirection(got, want []float32) bool {
	if len(got) != len(want) {
		return false
	}
	var n float64
	for _, w := range want {
		n += float64(w) * float64(w)
	}
	n = math.Sqrt(n)
	for i := range got {
		if math.Abs(float64(got[i])-float64(want[i])/n) > 1e-6 {
			return false
		}
	}
	return true
}

func TestImportColumnTypes(t *testing.T) {
	db := newTestDB(t, envDSN)
	tbl := typesTable(t, db)
	s, _ := testStore(t)
	ts := time.Date(2024, 3, 1, 10, 34, 56, 789012000, time.UTC)
	tsPlain := time.Date(2024, 3, 1, 12, 34, 56, 789012000, time.UTC)
	old := time.Date(1999, 12, 31, 23, 59, 59, 1000, time.UTC)

	type want struct {
		emb     [2][]float32
		conf    [2]float32
		created [2]time.Time
		meta    [2]map[string]string
		tags    [2][]string
		content [2]string
		ids     []string
	}
	e1, e2 := []float32{1, 2, 3}, []float32{-1, 0.5, 2}
	for _, c := range []struct {
		name string
		src  Source
		want want
	}{
		{"real-tz-jsonb-text", Source{Table: tbl, Mapping: Mapping{Embedding: "e_real", Confidence: "c_real", CreatedAt: "t_tz", Metadata: "m_jsonb", Tags: "g_text"}},
			want{emb: [2][]float32{e1, e2}, conf: [2]float32{0.25, 1}, created: [2]time.Time{ts, old},
				meta: [2]map[string]string{{"a": "x", "n": "1.50", "b": "true", "o": `{"k":[1,2]}`}, nil}, tags: [2][]string{{"red", "green"}, nil},
				content: [2]string{"first", "second"}, ids: []string{"1", "2", "3"}}},
		{"double-plain-json-varchar", Source{Table: tbl, Mapping: Mapping{Embedding: "e_double", Confidence: "c_double", CreatedAt: "t_plain", Metadata: "m_json", Tags: "g_varchar", Content: "body"}},
			want{emb: [2][]float32{{1.5, 2.5, 3.5}, e2}, conf: [2]float32{0.5, 0}, created: [2]time.Time{tsPlain, old},
				meta: [2]map[string]string{{"a": "y"}, nil}, tags: [2][]string{{"blue"}, nil}, content: [2]string{"first body", ""}, ids: []string{"1", "2", "3"}}},
		{"bytea-date-hstore-jsonbtags", Source{Table: tbl, Mapping: Mapping{Embedding: "e_bytea", Confidence: "c_numeric", CreatedAt: "t_date", Metadata: "m_hstore", Tags: "g_jsonb", Content: "raw"}},
			want{emb: [2][]float32{e1, e2}, conf: [2]float32{0.125, 0}, created: [2]time.Time{time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)},
				meta: [2]map[string]string{{"a": "1"}, nil}, tags: [2][]string{{"x", "y"}, nil}, content: [2]string{"hi", ""}, ids: []string{"1", "2", "3"}}},
		{"jsonb-emb-int-conf-textmeta-extra", Source{Table: tbl, Mapping: Mapping{Embedding: "e_jsonb", Confidence: "c_int", Metadata: "m_text", Tags: "-"}, MetadataColumns: []string{"author", "stars"}},
			want{emb: [2][]float32{e1, e2}, conf: [2]float32{1, 0}, meta: [2]map[string]string{{"t": "text", "author": "ada", "stars": "5"}, nil},
				content: [2]string{"first", "second"}, ids: []string{"1", "2", "3"}}},
		{"json-emb-uuid-id", Source{Table: tbl, Key: "id", Mapping: Mapping{ID: "uid", Embedding: "e_json", Metadata: "-", Tags: "-"}},
			want{emb: [2][]float32{e1, e2}, conf: [2]float32{1, 1}, content: [2]string{"first", "second"}, ids: []string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2", "3"}}},
		{"text-emb-query", Source{Query: "SELECT id, content, e_text AS embedding FROM " + tbl + " WHERE id < 10;", Mapping: Mapping{}},
			want{emb: [2][]float32{e1, e2}, conf: [2]float32{1, 1}, content: [2]string{"first", "second"}, ids: []string{"1", "2", "3"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range []Method{MethodCopy, MethodQuery} {
				space := strings.ReplaceAll(c.name, "-", "_") + "_" + m.String()
				res, got := importAll(t, db, s, space, c.src, ReadWith(m))
				// Row 3 has no embedding: the store refuses it (no embedder).
				if res.Read != 3 || res.Stored != 2 || res.Failed != 1 || res.FailuresByCode["INVALID_EMBEDDING"] != 1 {
					t.Fatalf("%s: result %+v", m, res)
				}
				if e := res.Errors[0]; e.Key != "3" || e.Row != 3 || e.Column != columnOf(c.src.Mapping.Embedding, "embedding") || !errors.Is(e, engram.ErrInvalidEmbedding) {
					t.Errorf("%s: row 3 reported as %+v (%v)", m, e, e)
				}
				for i, id := range c.want.ids[:2] {
					g, ok := got[id]
					if !ok {
						t.Fatalf("%s: memory %q missing; have %v", m, id, slices.Collect(maps.Keys(got)))
					}
					if !sameDirection(g.Embedding, c.want.emb[i]) {
						t.Errorf("%s %s: embedding %v, want the direction of %v", m, id, g.Embedding, c.want.emb[i])
					}
					if g.Conf() != c.want.conf[i] {
						t.Errorf("%s %s: confidence %v, want %v", m, id, g.Conf(), c.want.conf[i])
					}
					if !c.want.created[i].IsZero() && !g.CreatedAt.Equal(c.want.created[i]) {
						t.Errorf("%s %s: created %v, want %v", m, id, g.CreatedAt, c.want.created[i])
					}
					if !maps.Equal(g.Metadata, c.want.meta[i]) {
						t.Errorf("%s %s: metadata %v, want %v", m, id, g.Metadata, c.want.meta[i])
					}
					if !slices.Equal(g.Tags, c.want.tags[i]) {
						t.Errorf("%s %s: tags %q, want %q", m, id, g.Tags, c.want.tags[i])
					}
					if g.Content != c.want.content[i] {
						t.Errorf("%s %s: content %q, want %q", m, id, g.Content, c.want.content[i])
					}
				}
			}
		})
	}
}

func columnOf(mapped, def string) string {
	if mapped != "" {
		return mapped
	}
	return def
}

func TestImportUnsupportedColumn(t *testing.T) {
	db := newTestDB(t, envDSN)
	tbl := typesTable(t, db)
	s, _ := testStore(t)
	sp := testSpace(t, s, "x")
	for _, c := range []struct {
		src  Source
		want string
	}{
		{Source{Table: tbl, Mapping: Mapping{Embedding: "c_real"}}, `embedding column "c_real" (type real)`},
		{Source{Table: tbl, Mapping: Mapping{Confidence: "content"}}, `confidence column "content" (type text)`},
		{Source{Table: tbl, Mapping: Mapping{CreatedAt: "c_int"}}, `created_at column "c_int" (type smallint)`},
		{Source{Table: tbl, Mapping: Mapping{Metadata: "g_text"}}, `metadata column "g_text" (type text[])`},
		{Source{Table: tbl, Mapping: Mapping{Tags: "content"}}, `tags column "content" (type text)`},
		{Source{Table: tbl, Mapping: Mapping{Embedding: "nope"}}, `embedding column "nope": the table ` + tbl + ` has no such column`},
	} {
		_, err := Import(context.Background(), db.pool, sp, c.src)
		var ce *ColumnError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want a ColumnError with %q", c.src.Mapping, err, c.want)
		}
	}
	if _, err := Import(context.Background(), db.pool, sp, Source{Table: "no_such_table"}); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("missing table: %v", err)
	}
	if _, err := Import(context.Background(), db.pool, sp, Source{Table: tbl, Query: "SELECT 1"}); err == nil {
		t.Error("both Table and Query: no error")
	}
	if sp.Len() != 0 {
		t.Errorf("a failed mapping stored %d memories", sp.Len())
	}
}

func TestImportBadRowsAmongGood(t *testing.T) {
	db := newTestDB(t, envDSN)
	tbl := db.q("mixed")
	db.exec(t, "CREATE TABLE "+tbl+" (k text, content text, embedding real[], confidence real, metadata jsonb, created_at timestamptz)")
	// 20 good rows, and bad ones between them.
	db.exec(t, "INSERT INTO "+tbl+" SELECT 'k'||lpad(i::text, 3, '0'), 'row '||i, ARRAY[1, i, 0.5]::real[], 0.5, '{\"i\": 1}', now() FROM generate_series(1, 20) i")
	big := strings.Repeat("x", 2000)
	db.exec(t, `INSERT INTO `+tbl+` VALUES
		('k005a', 'null element', '{1,NULL,3}', 0.5, NULL, NULL),
		('k006a', 'two dimensions', '{{1,2,3},{4,5,6}}', 0.5, NULL, NULL),
		('k007a', 'metadata array', '{1,2,3}', 0.5, '[1,2]', NULL),
		('k008a', $1, '{1,2,3}', 0.5, NULL, NULL),
		('k009a', 'wrong dimension', '{1,2}', 0.5, NULL, NULL),
		('k010a', 'zero vector', '{0,0,0}', 0.5, NULL, NULL),
		('k011a', 'confidence 2', '{1,2,3}', 2, NULL, NULL),
		('k012a', 'infinite time', '{1,2,3}', 0.5, NULL, 'infinity'),
		('k013a', 'NaN component', '{1,NaN,3}', 0.5, NULL, NULL),
		(NULL, 'null key', '{1,2,3}', 0.5, NULL, NULL)`, big)
	s, _ := testStore(t, engram.WithLimits(func() engram.Limits { l := engram.DefaultLimits; l.MaxContentBytes = 1000; return l }()))
	var reported []*RowError
	sp := testSpace(t, s, "mixed")
	res, err := Import(context.Background(), db.pool, sp, Source{Table: tbl, Key: "k"},
		BatchSize(7), PageSize(9), OnRowError(func(e *RowError) { reported = append(reported, e) }))
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 30 || res.Stored != 20 || res.Failed != 10 || sp.Len() != 20 {
		t.Fatalf("result %+v, space %d", res, sp.Len())
	}
	want := []struct {
		key, column string
		code        Code
	}{
		{"k005a", "embedding", CodeBadValue},
		{"k006a", "embedding", CodeBadValue},
		{"k007a", "metadata", CodeBadValue},
		{"k008a", "content", "CONTENT_TOO_LARGE"},
		{"k009a", "embedding", "DIMENSION_MISMATCH"},
		{"k010a", "embedding", "INVALID_EMBEDDING"},
		{"k011a", "confidence", "INVALID_CONFIDENCE"},
		{"k012a", "created_at", CodeBadValue},
		{"k013a", "embedding", "INVALID_EMBEDDING"},
		{"", "k", CodeNullKey},
	}
	if len(reported) != len(want) || !slices.Equal(res.Errors, reported) {
		t.Fatalf("reported %d rows (%d in the result), want %d: %v", len(reported), len(res.Errors), len(want), reported)
	}
	for i, w := range want {
		e := reported[i]
		if e.Key != w.key || e.Column != w.column || e.Code != w.code {
			t.Errorf("report %d: key %q column %q code %s (%v), want %q %q %s", i, e.Key, e.Column, e.Code, e, w.key, w.column, w.code)
		}
		if i > 0 && e.Row <= reported[i-1].Row {
			t.Errorf("reports out of row order: %d after %d", e.Row, reported[i-1].Row)
		}
	}
	for i := 1; i <= 20; i++ {
		if _, err := sp.Get(context.Background(), fmt.Sprintf("k%03d", i)); err != nil {
			t.Errorf("good row %d: %v", i, err)
		}
	}
}

func TestImportNotUnique(t *testing.T) {
	db := newTestDB(t, envDSN)
	tbl := db.q("dups")
	db.exec(t, "CREATE TABLE "+tbl+" (k int, embedding real[])")
	db.exec(t, "INSERT INTO "+tbl+" SELECT i, ARRAY[1, i]::real[] FROM generate_series(1, 10) i")
	db.exec(t, "INSERT INTO "+tbl+" VALUES (4, '{1,1}')") // rows 4 and 4: inside a page, and at a boundary with pages of 4
	s, _ := testStore(t)
	for _, page := range []int{100, 4} {
		sp := testSpace(t, s, fmt.Sprintf("dups%d", page))
		res, err := Import(context.Background(), db.pool, sp, Source{Table: tbl, Key: "k"}, PageSize(page), BatchSize(2))
		if !errors.Is(err, ErrNotUnique) {
			t.Fatalf("page %d: error %v, want ErrNotUnique", page, err)
		}
		// What came before the duplicate is imported, and no more.
		if res.Stored != 4 || res.LastKey != "4" {
			t.Errorf("page %d: %+v", page, res)
		}
	}
}

func TestImportWithoutKey(t *testing.T) {
	db := newTestDB(t, envDSN)
	tbl := db.q("nokey")
	db.exec(t, "CREATE TABLE "+tbl+" (content text, embedding real[])")
	db.exec(t, "INSERT INTO "+tbl+" SELECT 'c'||i, ARRAY[1, i]::real[] FROM generate_series(1, 25) i")
	s, _ := testStore(t)
	sp := testSpace(t, s, "nokey")
	res, err := Import(context.Background(), db.pool, sp, Source{Table: tbl}, BatchSize(10))
	if err != nil || res.Stored != 25 || sp.Len() != 25 || res.LastKey != "" {
		t.Fatalf("%+v %v (space %d)", res, err, sp.Len())
	}
	if _, err := Import(context.Background(), db.pool, sp, Source{Table: tbl}, Resume()); err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("Resume without a key: %v", err)
	}
}

func TestRows(t *testing.T) {
	db := newTestDB(t, envDSN)
	tbl := db.q("rows")
	db.exec(t, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, content text, embedding real[])")
	db.exec(t, "INSERT INTO "+tbl+" SELECT i, 'c'||i, ARRAY[1, i]::real[] FROM generate_series(1, 2500) i")
	db.exec(t, "UPDATE "+tbl+" SET embedding = '{1,NULL}' WHERE id = 1234")
	ctx := context.Background()
	var keys []string
	var bad []*RowError
	for row, err := range Rows(ctx, db.pool, Source{Table: tbl}, PageSize(700), BatchSize(100)) {
		var re *RowError
		switch {
		case errors.As(err, &re):
			bad = append(bad, re)
		case err != nil:
			t.Fatal(err)
		case row.Memory.ID != row.Key || row.Memory.Content != "c"+row.Key:
			t.Fatalf("row %+v", row)
		}
		keys = append(keys, row.Key)
	}
	if len(keys) != 2500 || len(bad) != 1 || bad[0].Key != "1234" || bad[0].Row != 1234 {
		t.Fatalf("%d rows, bad %v", len(keys), bad)
	}
	for i, k := range keys {
		if k != fmt.Sprint(i+1) {
			t.Fatalf("row %d has key %s: not in key order", i+1, k)
		}
	}
	// Breaking out stops the read (and leaves no goroutine blocked: the pool closes).
	n := 0
	for _, err := range Rows(ctx, db.pool, Source{Table: tbl}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 5 {
			break
		}
	}
	if n != 5 {
		t.Errorf("broke after %d", n)
	}
}
