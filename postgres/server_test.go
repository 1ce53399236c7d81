package postgres

// Test servers. The tests run against real servers named by environment variables:
// ENGRAM_PG_DSN (PostgreSQL; .ci/run starts Debian's PostgreSQL 15) and ENGRAM_PGVECTOR_DSN
// (a server with pgvector; .ci/run starts PGlite with its vector extension). Start both
// locally with
//
//	eval "$(scripts/pg-test-server.sh start)"
//
// Without them the tests skip, except under CI (CI set) or with ENGRAM_REQUIRE_PG=1, where
// a missing server fails them: a CI run that silently skipped them would prove nothing.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	envDSN    = "ENGRAM_PG_DSN"
	envVector = "ENGRAM_PGVECTOR_DSN"
)

func requireServers() bool {
	return os.Getenv("CI") != "" || os.Getenv("ENGRAM_REQUIRE_PG") == "1"
}

func dsnOf(t testing.TB, env string) string {
	t.Helper()
	dsn := os.Getenv(env)
	if dsn == "" {
		if requireServers() {
			t.Fatalf("%s is not set, and CI / ENGRAM_REQUIRE_PG=1 needs the server: start it with scripts/pg-test-server.sh", env)
		}
		t.Skipf("%s is not set: start test servers with eval \"$(scripts/pg-test-server.sh start)\"", env)
	}
	return dsn
}

// testDB is a server for one test: a pool, and a schema of its own (dropped afterwards)
// in which the test creates its tables. Names are schema-qualified rather than put on
// search_path, because PGlite's connections share one session.
type testDB struct {
	pool    *pgxpool.Pool
	admin   *pgx.Conn
	schema  string
	dsn     string
	appName string
}

var nameRE = regexp.MustCompile(`[^a-z0-9]+`)

func newTestDB(t testing.TB, env string) *testDB {
	t.Helper()
	dsn := dsnOf(t, env)
	ctx := context.Background()
	acfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if env == envVector {
		acfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec // see below
	}
	admin, err := pgx.ConnectConfig(ctx, acfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", env, err)
	}
	name := nameRE.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	schema := fmt.Sprintf("t_%s_%d", name, rand.IntN(1e6))
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	app := "engram-" + schema
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	if env == envVector {
		// PGlite runs one backend that all connections share: one connection at a time, and
		// no named prepared statements (pgx's statement cache would collide across pools).
		cfg.MaxConns = 1
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := &testDB{pool: pool, admin: admin, schema: schema, dsn: dsn, appName: app}
	t.Cleanup(func() {
		pool.Close()
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
	})
	return db
}

// q qualifies a table name with the test's schema.
func (db *testDB) q(table string) string { return db.schema + "." + table }

func (db *testDB) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := db.admin.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// testStore opens a fresh store in the test's temp dir.
func testStore(t testing.TB, opts ...engram.Option) (*engram.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := engram.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func testSpace(t testing.TB, s *engram.Store, name string, opts ...engram.SpaceOption) *engram.Space {
	t.Helper()
	sp, err := s.Space(context.Background(), name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}
