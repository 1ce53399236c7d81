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
	"github.com/engram-go/engram/synth"
)

// fillSpace stores n synthetic memories (IDs m-000000...) with metadata, tags, confidences
// and creation times, plus edge cases: no metadata or tags, confidence 0, quotes and
// non-ASCII text.
func fillSpace(t *testing.T, sp *engram.Space, n, dim int) {
	t.Helper()
	g := synth.New(synth.Config{Seed: 3, Dim: dim, IDPrefix: "m"})
	mems := g.Batch(n)
	mems[0].Metadata, mems[0].Tags = nil, nil
	mems[1].Confidence = engram.Confidence(0)
	mems[2].Content = `it's "quoted", \back\slashed, ünïcödé ✓`
	mems[2].Metadata = map[string]string{"k'ey": `va"l`, "empty": ""}
	mems[3].CreatedAt = time.Date(1970, 1, 1, 0, 0, 0, 999, time.UTC) // sub-microsecond part
	res, err := sp.BatchRemember(context.Background(), mems)
	if err != nil || res.Failed != 0 {
		t.Fatalf("fill: %v %v", err, res.Err())
	}
}

// diffMemories compares two spaces field by field at PostgreSQL's precision (created_at
// in microseconds; embeddings within float32 normalization) and returns the differences.
func diffMemories(a, b map[string]engram.Memory) []string {
	var diffs []string
	for id, x := range a {
		y, ok := b[id]
		if !ok {
			diffs = append(diffs, id+": missing")
			continue
		}
		if d := diffMemory(x, y); d != "" {
			diffs = append(diffs, id+": "+d)
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			diffs = append(diffs, id+": extra")
		}
	}
	slices.Sort(diffs)
	return diffs
}

func diffMemory(x, y engram.Memory) string {
	switch {
	case x.Content != y.Content:
		return fmt.Sprintf("content %q vs %q", x.Content, y.Content)
	case x.Conf() != y.Conf():
		return fmt.Sprintf("confidence %v vs %v", x.Conf(), y.Conf())
	case !x.CreatedAt.Truncate(time.Microsecond).Equal(y.CreatedAt.Truncate(time.Microsecond)):
		return fmt.Sprintf("created_at %v vs %v", x.CreatedAt, y.CreatedAt)
	case !(len(x.Metadata) == 0 && len(y.Metadata) == 0) && !maps.Equal(x.Metadata, y.Metadata):
		return fmt.Sprintf("metadata %v vs %v", x.Metadata, y.Metadata)
	case !(len(x.Tags) == 0 && len(y.Tags) == 0) && !slices.Equal(x.Tags, y.Tags):
		return fmt.Sprintf("tags %q vs %q", x.Tags, y.Tags)
	case len(x.Embedding) != len(y.Embedding):
		return fmt.Sprintf("embedding of %d vs %d", len(x.Embedding), len(y.Embedding))
	}
	for i := range x.Embedding {
		if math.Abs(float64(x.Embedding[i]-y.Embedding[i])) > 1e-6 {
			return fmt.Sprintf("embedding[%d] %v vs %v", i, x.Embedding[i], y.Embedding[i])
		}
	}
	return ""
}

func TestExportImportRoundTrip(t *testing.T) {
	db := newTestDB(t, envDSN)
	s, _ := testStore(t)
	ctx := context.Background()
	src := testSpace(t, s, "src")
	fillSpace(t, src, 2500, 24)
	for _, method := range []string{"copy", "insert"} {
		t.Run(method, func(t *testing.T) {
			tbl := db.q("out_" + method)
			opts := []Option{BatchSize(300)}
			if method == "insert" {
				opts = append(opts, UseInsert())
			}
			res, err := Export(ctx, db.pool, src, Target{Table: tbl, Create: true}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Written != 2500 || !res.Created || res.Method != method {
				t.Errorf("%+v", res)
			}
			back := testSpace(t, s, "back_"+method)
			if _, err := Import(ctx, db.pool, back, Source{Table: tbl}); err != nil {
				t.Fatal(err)
			}
			if d := diffMemories(spaceMemories(t, src), spaceMemories(t, back)); len(d) > 0 {
				t.Errorf("%d mismatches after the round trip, e.g. %v", len(d), d[:min(5, len(d))])
			}
			// PostgreSQL → engram → PostgreSQL: the table written from the re-imported space
			// equals the first one in SQL, column by column, hash included (the store keeps a
			// vector that is already of unit length bit for bit).
			tbl2 := db.q("out2_" + method)
			if _, err := Export(ctx, db.pool, back, Target{Table: tbl2, Create: true}, opts...); err != nil {
				t.Fatal(err)
			}
			var diff int
			err = db.admin.QueryRow(ctx, `SELECT count(*) FROM `+tbl+` a FULL JOIN `+tbl2+` b USING (id)
				WHERE a.content IS DISTINCT FROM b.content OR a.confidence IS DISTINCT FROM b.confidence
				OR a.created_at IS DISTINCT FROM b.created_at OR a.metadata IS DISTINCT FROM b.metadata
				OR a.tags IS DISTINCT FROM b.tags OR a.engram_hash IS DISTINCT FROM b.engram_hash
				OR (SELECT max(abs(x - y)) FROM unnest(a.embedding, b.embedding) AS u(x, y)) > 1e-6
				OR b.id IS NULL OR a.id IS NULL`).Scan(&diff)
			if err != nil || diff != 0 {
				t.Errorf("PostgreSQL → engram → PostgreSQL: %d rows differ (%v)", diff, err)
			}
		})
	}
}

func TestExportColumnTypes(t *testing.T) {
	db := newTestDB(t, envDSN)
	s, _ := testStore(t)
	ctx := context.Background()
	src := testSpace(t, s, "src")
	fillSpace(t, src, 50, 8)
	for _, c := range []struct{ name, ddl string }{
		{"wide", "id varchar(40) PRIMARY KEY, content varchar, embedding double precision[], confidence double precision, created_at timestamp, metadata json, tags varchar[]"},
		{"bytes", "id text PRIMARY KEY, body text, vec bytea, confidence real, created_at timestamptz, metadata jsonb, labels text[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl := db.q(c.name)
			db.exec(t, "CREATE TABLE "+tbl+" ("+c.ddl+")")
			m := Mapping{}
			if c.name == "bytes" {
				m = Mapping{Content: "body", Embedding: "vec", Tags: "labels"}
			}
			res, err := Export(ctx, db.pool, src, Target{Table: tbl, Mapping: m})
			if err != nil || res.Written != 50 || len(res.Omitted) != 0 {
				t.Fatalf("%+v %v", res, err)
			}
			back := testSpace(t, s, "back_"+c.name)
			if _, err := Import(ctx, db.pool, back, Source{Table: tbl, Mapping: m}); err != nil {
				t.Fatal(err)
			}
			if d := diffMemories(spaceMemories(t, src), spaceMemories(t, back)); len(d) > 0 {
				t.Errorf("%d mismatches, e.g. %v", len(d), d[:min(5, len(d))])
			}
		})
	}
	// A table without some default columns: those fields are left out and listed.
	tbl := db.q("narrow")
	db.exec(t, "CREATE TABLE "+tbl+" (id text PRIMARY KEY, embedding real[])")
	res, err := Export(ctx, db.pool, src, Target{Table: tbl})
	if err != nil || !slices.Equal(res.Omitted, []string{"content", "confidence", "created_at", "metadata", "tags"}) {
		t.Errorf("narrow table: %+v %v", res, err)
	}
	// Types that cannot carry a field are refused before anything is written.
	tbl = db.q("badtypes")
	db.exec(t, "CREATE TABLE "+tbl+" (id text PRIMARY KEY, embedding real[], confidence numeric)")
	var ce *ColumnError
	if _, err := Export(ctx, db.pool, src, Target{Table: tbl}); !errors.As(err, &ce) || ce.Column != "confidence" {
		t.Errorf("numeric confidence: %v", err)
	}
	if _, err := Export(ctx, db.pool, src, Target{Table: db.q("missing")}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing table: %v", err)
	}
}

func TestExportAllOrNothing(t *testing.T) {
	db := newTestDB(t, envDSN)
	s, _ := testStore(t)
	ctx := context.Background()
	sp := testSpace(t, s, "src")
	fillSpace(t, sp, 100, 8)
	if _, err := sp.Remember(ctx, engram.Memory{ID: "nul", Content: "a\x00b", Embedding: []float32{1, 2, 3, 4, 5, 6, 7, 8}}); err != nil {
		t.Fatal(err)
	}
	tbl := db.q("out")
	res, err := Export(ctx, db.pool, sp, Target{Table: tbl, Create: true})
	if err != nil || res.Written != 100 || res.Skipped != 1 || !strings.HasPrefix(res.SkippedIDs[0], "nul: content") {
		t.Fatalf("%+v %v", res, err)
	}
	// A second export collides with the rows of the first and leaves the table as it was.
	db.exec(t, "UPDATE "+tbl+" SET content = 'marker' WHERE id = 'm-000007'")
	if _, err := sp.Remember(ctx, engram.Memory{ID: "new", Content: "new", Embedding: []float32{1, 2, 3, 4, 5, 6, 7, 8}}); err != nil {
		t.Fatal(err)
	}
	_, err = Export(ctx, db.pool, sp, Target{Table: tbl})
	if err == nil || !strings.Contains(err.Error(), "Sync") {
		t.Fatalf("export over existing rows: %v", err)
	}
	var n int
	var marker string
	db.admin.QueryRow(ctx, "SELECT count(*), max(content) FILTER (WHERE id = 'm-000007') FROM "+tbl).Scan(&n, &marker)
	if n != 100 || marker != "marker" {
		t.Errorf("after a failed export: %d rows, marker %q", n, marker)
	}
}

func TestSync(t *testing.T) {
	for _, insert := range []bool{false, true} {
		t.Run(fmt.Sprintf("insert=%v", insert), func(t *testing.T) {
			db := newTestDB(t, envDSN)
			testSync(t, db, insert, false)
		})
	}
}

// testSync syncs a space, changes it every way a space changes, syncs again and checks
// that the table then holds exactly the space.
func testSync(t *testing.T, db *testDB, insert, vector bool) {
	s, _ := testStore(t)
	ctx := context.Background()
	sp := testSpace(t, s, "live")
	fillSpace(t, sp, 400, 16)
	tbl := db.q("mirror")
	var opts []Option
	if insert {
		opts = append(opts, UseInsert(), BatchSize(128))
	}
	first, err := Sync(ctx, db.pool, sp, Target{Table: tbl, Create: true, Vector: vector}, opts...)
	if err != nil || first.Written != 400 || first.Unchanged != 0 || first.Deleted != 0 {
		t.Fatalf("first sync: %+v %v", first, err)
	}
	// A row someone else inserted (no hash) is not the space's to delete.
	emb := "'{1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}'"
	if vector {
		emb = "'[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]'"
	}
	db.exec(t, "INSERT INTO "+tbl+" (id, content, embedding, confidence, created_at, metadata, tags) VALUES ('foreign', 'theirs', "+emb+", 1, now(), '{}', '{}')")

	// Updates in place (same write position), a replacement under the same ID, forgets and
	// a new memory.
	up, err := sp.BatchUpdate(ctx, []engram.Update{
		{ID: "m-000010", Patch: engram.Patch{Confidence: engram.Confidence(0.125)}},
		{ID: "m-000011", Patch: engram.Patch{SetMetadata: map[string]string{"new": "yes"}}},
		{ID: "m-000012", Patch: engram.Patch{Tags: []string{"retagged"}}},
	})
	if err != nil || up.Failed != 0 {
		t.Fatal(err, up.Err())
	}
	e := make([]float32, 16)
	e[3] = 1
	if _, err := sp.Remember(ctx, engram.Memory{ID: "m-000020", Content: "replaced", Embedding: e}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Remember(ctx, engram.Memory{ID: "fresh", Content: "fresh", Embedding: e}); err != nil {
		t.Fatal(err)
	}
	if n, err := sp.Forget(ctx, "m-000030", "m-000031"); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	second, err := Sync(ctx, db.pool, sp, Target{Table: tbl}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if second.Written != 5 || second.Updated != 4 || second.Deleted != 2 || second.Unchanged != 394 {
		t.Errorf("second sync: %+v", second)
	}
	back := testSpace(t, s, "back")
	if _, err := Import(ctx, db.pool, back, Source{Query: "SELECT * FROM " + tbl + " WHERE id <> 'foreign'"}); err != nil {
		t.Fatal(err)
	}
	if d := diffMemories(spaceMemories(t, sp), spaceMemories(t, back)); len(d) > 0 {
		t.Errorf("table differs from the space after the sync: %v", d[:min(5, len(d))])
	}
	var foreign int
	db.admin.QueryRow(ctx, "SELECT count(*) FROM "+tbl+" WHERE id = 'foreign'").Scan(&foreign)
	if foreign != 1 {
		t.Error("the sync deleted a row it did not write")
	}
	third, err := Sync(ctx, db.pool, sp, Target{Table: tbl}, opts...)
	if err != nil || third.Written != 0 || third.Deleted != 0 || third.Unchanged != int64(sp.Len()) {
		t.Errorf("sync of an unchanged space: %+v %v", third, err)
	}
}
