package main

// `pg`: a million memories from PostgreSQL and back (issue 13). In one run, against a
// throw-away PostgreSQL cluster it starts (Debian's postgresql, as root) or --dsn:
//
//   - fills a table with n synthetic memories (package synth; pgx's own CopyFrom, so the
//     data does not go through the code under test);
//   - copy_out_per_s: COPY table TO STDOUT (binary) into io.Discard, the server's raw rate;
//   - read_copy_per_s / read_query_per_s: postgres.Rows over the table with each read
//     method (keyset pages, decoding, conversion to memories), no store;
//   - ingest_per_s: durable RememberAll(batch, in-flight) of the same memories from RAM
//     into a fresh store: the baseline the import is held to;
//   - import_per_s: postgres.Import of the table into a fresh store, same batch and
//     in-flight, durable;
//   - export_per_s: postgres.Export of the imported space to a new table (binary COPY);
//   - mismatches: rows of the exported table that differ from the source row in content,
//     confidence, created_at, metadata, tags or embedding (> 1e-6 per component), or lack
//     a partner.
//
// The reads, the ingest and the import each run in a fresh child process (the same
// binary), so that none pays for another's heap, and each one's peak RSS is reported.
//
//	go run . pg [--n 100000] [--dim 384] [--json] [--dsn postgres://...]

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/postgres"
	"github.com/engram-go/engram/synth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type pgResult struct {
	N        int    `json:"n"`
	Dim      int    `json:"dim"`
	Batch    int    `json:"batch"`
	InFlight int    `json:"in_flight"`
	Server   string `json:"server"`
	Threads  int    `json:"threads"`

	FillPerS      float64 `json:"fill_per_s"`
	CopyOutPerS   float64 `json:"copy_out_per_s"`
	ReadCopyPerS  float64 `json:"read_copy_per_s"`
	ReadQueryPerS float64 `json:"read_query_per_s"`
	IngestPerS    float64 `json:"ingest_per_s"`
	ImportPerS    float64 `json:"import_per_s"`
	ImportRatio   float64 `json:"import_vs_ingest"`
	ExportPerS    float64 `json:"export_per_s"`
	Mismatches    int64   `json:"mismatches"`

	IngestS         float64 `json:"ingest_s"`
	ImportS         float64 `json:"import_s"`
	ExportS         float64 `json:"export_s"`
	ImportStored    int64   `json:"import_stored"`
	ImportMethod    string  `json:"import_method"`
	ImportPeakRSS   int64   `json:"import_peak_rss_bytes"`
	ImportIndexSize int64   `json:"import_index_bytes"`
	ImportFileBytes int64   `json:"import_file_bytes"`
	IngestPeakRSS   int64   `json:"ingest_peak_rss_bytes"` // includes the n memories held in RAM
	ReadPeakRSS     int64   `json:"read_peak_rss_bytes"`   // the read and convert stages alone (COPY)
}

// pgChildResult is what the import child reports.
type pgChildResult struct {
	Seconds    float64 `json:"seconds"`
	Read       int64   `json:"read"`
	Stored     int64   `json:"stored"`
	Failed     int64   `json:"failed"`
	Method     string  `json:"method"`
	IndexBytes int64   `json:"index_bytes"`
	FileBytes  int64   `json:"file_bytes"`
}

func cmdPG(args []string) error {
	if len(args) > 0 && args[0] == "--child" {
		return pgChild(args[1:])
	}
	fs := flag.NewFlagSet("pg", flag.ExitOnError)
	n := fs.Int("n", 100_000, "memories")
	dim := fs.Int("dim", 384, "embedding dimension")
	batch := fs.Int("batch", 1000, "memories per BatchRemember, for the ingest and the import")
	inFlight := fs.Int("inflight", 2, "batches in flight, for the ingest and the import")
	dsn := fs.String("dsn", "", "use this server instead of starting a cluster")
	port := fs.Int("port", 55442, "port of the cluster the benchmark starts")
	seed := fs.Uint64("seed", 11, "synthetic data seed")
	asJSON := fs.Bool("json", false, "one JSON object instead of a table")
	dir := fs.String("dir", "", "work directory (default: a temp dir, removed afterwards)")
	fs.Parse(args)

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "engram-pg"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	if *dsn == "" {
		d, stop, err := startCluster(work, *port)
		if err != nil {
			return err
		}
		defer stop()
		*dsn = d
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	res := pgResult{N: *n, Dim: *dim, Batch: *batch, InFlight: *inFlight, Threads: runtime.GOMAXPROCS(0)}
	pool.QueryRow(ctx, "SHOW server_version").Scan(&res.Server)
	gen := func() *synth.Generator { return synth.New(synth.Config{Seed: *seed, Dim: *dim, IDPrefix: "m"}) }

	// 1. Fill.
	for _, q := range []string{"DROP TABLE IF EXISTS bench_src, bench_out",
		"CREATE TABLE bench_src (id text PRIMARY KEY, content text, embedding real[], confidence real, created_at timestamptz, metadata jsonb, tags text[])"} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return err
		}
	}
	t0 := time.Now()
	g := gen()
	left := *n
	var cur engram.Memory
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if left == 0 {
			return nil, nil
		}
		left--
		cur = g.Next()
		return []any{cur.ID, cur.Content, cur.Embedding, cur.Conf(), cur.CreatedAt, cur.Metadata, cur.Tags}, nil
	})
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_src"}, []string{"id", "content", "embedding", "confidence", "created_at", "metadata", "tags"}, rows); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	res.FillPerS = float64(*n) / time.Since(t0).Seconds()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE bench_src"); err != nil {
		return err
	}
	logf("filled %d rows: %.0f rows/s", *n, res.FillPerS)

	// 2. The server alone, then the read stages alone with each method.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	for range 2 { // the first pass warms the server's cache; the second is measured
		t0 = time.Now()
		if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, "COPY bench_src TO STDOUT (FORMAT binary)"); err != nil {
			conn.Release()
			return err
		}
		res.CopyOutPerS = float64(*n) / time.Since(t0).Seconds()
	}
	conn.Release()
	logf("COPY out: %.0f rows/s", res.CopyOutPerS)
	for _, m := range []postgres.Method{postgres.MethodCopy, postgres.MethodQuery} {
		cr, rss, err := runPGChild("read", *dsn, "", m.String(), *batch, *inFlight, *n, *dim, *seed)
		if err != nil {
			return err
		}
		rate := float64(cr.Read) / cr.Seconds
		if m == postgres.MethodCopy {
			res.ReadCopyPerS, res.ReadPeakRSS = rate, rss
		} else {
			res.ReadQueryPerS = rate
		}
		logf("read+convert (%s): %.0f rows/s, peak RSS %s", m, rate, mb(rss))
	}

	// 3. Ingest from RAM, and 4. the import: each in a fresh child process, so that neither
	// pays for the other's heap (the ingest child generates the memories before timing).
	cr, rss, err := runPGChild("ingest", *dsn, filepath.Join(work, "ingest.db"), "", *batch, *inFlight, *n, *dim, *seed)
	if err != nil {
		return err
	}
	res.IngestS, res.IngestPeakRSS = cr.Seconds, rss
	res.IngestPerS = float64(cr.Stored) / cr.Seconds
	logf("ingest (RememberAll from RAM): %.0f memories/s, peak RSS %s (memories in RAM included)", res.IngestPerS, mb(rss))

	importPath := filepath.Join(work, "import.db")
	cr, rss, err = runPGChild("import", *dsn, importPath, "copy", *batch, *inFlight, *n, *dim, *seed)
	if err != nil {
		return err
	}
	res.ImportPeakRSS = rss
	res.ImportS, res.ImportStored, res.ImportMethod, res.ImportIndexSize, res.ImportFileBytes = cr.Seconds, cr.Stored, cr.Method, cr.IndexBytes, cr.FileBytes
	res.ImportPerS = float64(cr.Read) / cr.Seconds
	res.ImportRatio = res.ImportPerS / res.IngestPerS
	logf("import: %.0f rows/s (%.2f× ingest), peak RSS %s, index %s, file %s", res.ImportPerS, res.ImportRatio, mb(res.ImportPeakRSS), mb(res.ImportIndexSize), mb(res.ImportFileBytes))

	// 5. Export the imported space, and compare with the source.
	s, err := engram.Open(importPath)
	if err != nil {
		return err
	}
	defer s.Close()
	sp, err := s.LookupSpace("mem")
	if err != nil {
		return err
	}
	t0 = time.Now()
	er, err := postgres.Export(ctx, pool, sp, postgres.Target{Table: "bench_out", Create: true})
	if err != nil {
		return err
	}
	res.ExportS = time.Since(t0).Seconds()
	res.ExportPerS = float64(er.Written) / res.ExportS
	logf("export: %.0f rows/s", res.ExportPerS)
	err = pool.QueryRow(ctx, `SELECT count(*) FROM bench_src a FULL JOIN bench_out b USING (id)
		WHERE a.id IS NULL OR b.id IS NULL OR a.content IS DISTINCT FROM b.content
		OR a.confidence IS DISTINCT FROM b.confidence OR a.created_at IS DISTINCT FROM b.created_at
		OR a.metadata IS DISTINCT FROM b.metadata OR a.tags IS DISTINCT FROM b.tags
		OR cardinality(a.embedding) IS DISTINCT FROM cardinality(b.embedding)
		OR (SELECT max(abs(x - y)) FROM unnest(a.embedding, b.embedding) AS u(x, y)) > 1e-6`).Scan(&res.Mismatches)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	logf("round trip: %d mismatches", res.Mismatches)

	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	fmt.Printf("n=%d dim=%d batch=%d in-flight=%d, PostgreSQL %s, %d threads\n", res.N, res.Dim, res.Batch, res.InFlight, res.Server, res.Threads)
	fmt.Printf("  COPY out (server alone)     %10.0f rows/s\n", res.CopyOutPerS)
	fmt.Printf("  read+convert, COPY          %10.0f rows/s\n", res.ReadCopyPerS)
	fmt.Printf("  read+convert, query         %10.0f rows/s; peak RSS of the read alone %s\n", res.ReadQueryPerS, mb(res.ReadPeakRSS))
	fmt.Printf("  ingest (RememberAll, RAM)   %10.0f memories/s\n", res.IngestPerS)
	fmt.Printf("  import (Import, durable)    %10.0f rows/s = %.2f× ingest; peak RSS %s, index %s, file %s\n", res.ImportPerS, res.ImportRatio, mb(res.ImportPeakRSS), mb(res.ImportIndexSize), mb(res.ImportFileBytes))
	fmt.Printf("  export (Export, COPY)       %10.0f rows/s\n", res.ExportPerS)
	fmt.Printf("  round-trip mismatches       %10d\n", res.Mismatches)
	return nil
}

// runPGChild runs one measured step in a child process (pg --child ...) and returns its
// report and peak RSS.
func runPGChild(step, dsn, store, method string, batch, inFlight, n, dim int, seed uint64) (pgChildResult, int64, error) {
	var cr pgChildResult
	self, err := os.Executable()
	if err != nil {
		return cr, 0, err
	}
	cmd := exec.Command(self, "pg", "--child", step, dsn, store, method, strconv.Itoa(batch), strconv.Itoa(inFlight),
		strconv.Itoa(n), strconv.Itoa(dim), strconv.FormatUint(seed, 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return cr, 0, fmt.Errorf("%s child: %w", step, err)
	}
	if err := json.Unmarshal(out, &cr); err != nil {
		return cr, 0, fmt.Errorf("%s child said %q: %w", step, out, err)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // KiB on Linux
	}
	return cr, rss, nil
}

// pgChild runs one step: pg --child read|ingest|import DSN STORE METHOD BATCH INFLIGHT N DIM SEED.
func pgChild(args []string) error {
	if len(args) != 9 {
		return fmt.Errorf("pg --child STEP DSN STORE METHOD BATCH INFLIGHT N DIM SEED")
	}
	step, dsn, store, method := args[0], args[1], args[2], args[3]
	var nums [4]int
	for i, a := range args[4:8] {
		nums[i], _ = strconv.Atoi(a)
	}
	batch, inFlight, n, dim := nums[0], nums[1], nums[2], nums[3]
	seed, _ := strconv.ParseUint(args[8], 10, 64)
	ctx := context.Background()
	m := postgres.MethodCopy
	if method == "query" {
		m = postgres.MethodQuery
	}
	var cr pgChildResult
	switch step {
	case "read":
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return err
		}
		defer pool.Close()
		t0 := time.Now()
		for _, err := range postgres.Rows(ctx, pool, postgres.Source{Table: "bench_src"}, postgres.ReadWith(m), postgres.BatchSize(batch)) {
			if err != nil {
				return err
			}
			cr.Read++
		}
		cr.Seconds, cr.Method = time.Since(t0).Seconds(), m.String()
	case "ingest":
		mems := synth.New(synth.Config{Seed: seed, Dim: dim, IDPrefix: "m"}).Batch(n)
		s, err := engram.Open(store)
		if err != nil {
			return err
		}
		sp, err := s.Space(ctx, "mem")
		if err != nil {
			return err
		}
		t0 := time.Now()
		br, err := sp.RememberAll(ctx, mems, batch, inFlight)
		if err != nil || br.Failed != 0 {
			return fmt.Errorf("ingest: %v (%d failed)", err, br.Failed)
		}
		cr.Seconds, cr.Stored = time.Since(t0).Seconds(), int64(br.Stored)
		cr.IndexBytes = sp.Stats().IndexBytes
		if err := s.Close(); err != nil {
			return err
		}
	case "import":
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return err
		}
		defer pool.Close()
		s, err := engram.Open(store)
		if err != nil {
			return err
		}
		sp, err := s.Space(ctx, "mem")
		if err != nil {
			return err
		}
		t0 := time.Now()
		res, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "bench_src"}, postgres.BatchSize(batch), postgres.InFlight(inFlight), postgres.ReadWith(m))
		if err != nil {
			return err
		}
		cr.Seconds, cr.Read, cr.Stored, cr.Failed, cr.Method = time.Since(t0).Seconds(), res.Read, res.Stored, res.Failed, res.Method.String()
		cr.IndexBytes = sp.Stats().IndexBytes
		cr.FileBytes = s.Stats().FileBytes
		if err := s.Close(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown step %q", step)
	}
	return json.NewEncoder(os.Stdout).Encode(cr)
}

// startCluster starts a throw-away PostgreSQL cluster in dir as the postgres user (as
// scripts/pg-test-server.sh does) and returns its DSN and a function that stops it.
func startCluster(dir string, port int) (string, func(), error) {
	bin := "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(bin + "/initdb"); err != nil {
		return "", nil, fmt.Errorf("no PostgreSQL 15 in %s (apt-get install postgresql, or pass --dsn)", bin)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	pgdir := filepath.Join(dir, "pg")
	if err := os.MkdirAll(pgdir, 0o755); err != nil {
		return "", nil, err
	}
	os.Chmod(dir, 0o755)
	if err := os.Chown(pgdir, uid, gid); err != nil {
		return "", nil, err
	}
	run := func(args ...string) error {
		cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", args[0], err, out)
		}
		return nil
	}
	data := filepath.Join(pgdir, "data")
	if err := run(bin+"/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		return "", nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=512MB -c max_wal_size=4GB", port, pgdir)
	if err := run(bin+"/pg_ctl", "-D", data, "-l", filepath.Join(pgdir, "log"), "-w", "-t", "60", "start", "-o", opts); err != nil {
		return "", nil, err
	}
	stop := func() { run(bin+"/pg_ctl", "-D", data, "-m", "fast", "-w", "stop") }
	logf("PostgreSQL 15 cluster on 127.0.0.1:%d", port)
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}
