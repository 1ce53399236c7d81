package postgres

import (
	"context"
	"testing"
)

// BenchmarkRows measures the read and convert stages alone (no store) over a table of
// 100,000 rows with a 32-d real[] embedding, metadata and tags, per read method.
func BenchmarkRows(b *testing.B) {
	db := newTestDB(b, envDSN)
	tbl := db.q("rows")
	db.exec(b, "CREATE TABLE "+tbl+" (id text PRIMARY KEY, content text, embedding real[], metadata jsonb, tags text[])")
	db.exec(b, `INSERT INTO `+tbl+` SELECT 'k'||lpad(i::text, 7, '0'), 'content of row '||i,
		(SELECT array_agg(random())::real[] FROM generate_series(1, 32) WHERE i > 0), '{"topic": "t", "n": "1"}', '{a,b}'
		FROM generate_series(1, 100000) i`)
	db.exec(b, "VACUUM ANALYZE "+tbl)
	for _, m := range []Method{MethodCopy, MethodQuery} {
		b.Run(m.String(), func(b *testing.B) {
			n := 0
			for b.Loop() {
				for _, err := range Rows(context.Background(), db.pool, Source{Table: tbl}, ReadWith(m)) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
