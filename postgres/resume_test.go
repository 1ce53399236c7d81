package postgres

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The SIGKILL test re-executes the test binary as the importing child: TestMain runs the
// child's import instead of the tests when ENGRAM_PG_CHILD is set.
func TestMain(m *testing.M) {
	if os.Getenv("ENGRAM_PG_CHILD") == "1" {
		if err := childImport(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// killSource is the table the kill tests import: n rows keyed k00000..., content and an
// 8-d embedding derived from the key, so every stored memory can be checked.
func killSource(t *testing.T, db *testDB, n int) Source {
	t.Helper()
	tbl := db.q("src")
	db.exec(t, "CREATE TABLE "+tbl+" (id text PRIMARY KEY, content text, embedding real[])")
	db.exec(t, `INSERT INTO `+tbl+` SELECT 'k'||lpad(i::text, 6, '0'), 'memory '||i,
		ARRAY[1, i % 7, i % 11, i % 13, 1, 2, 3, i % 5]::real[] FROM generate_series(1, $1) i`, n)
	return Source{Table: tbl}
}

// checkComplete asserts that sp holds exactly the n rows of killSource, each once and right.
func checkComplete(t *testing.T, sp *engram.Space, n int) {
	t.Helper()
	if sp.Len() != n {
		t.Errorf("space holds %d memories, want %d", sp.Len(), n)
	}
	seen := 0
	for m, err := range sp.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		i, err := strconv.Atoi(strings.TrimPrefix(m.ID, "k"))
		if err != nil || m.Content != fmt.Sprintf("memory %d", i) {
			t.Fatalf("unexpected memory %q %q", m.ID, m.Content)
		}
		seen++
	}
	if seen != n {
		t.Errorf("scan saw %d memories, want %d", seen, n)
	}
}

// terminate kills the test's import connections with pg_terminate_backend.
func (db *testDB) terminate(t *testing.T) int {
	var n int
	err := db.admin.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", db.appName).Scan(&n)
	if err != nil {
		t.Error(err)
	}
	return n
}

func TestImportResumeAfterTerminate(t *testing.T) {
	db := newTestDB(t, envDSN)
	const n = 6000
	src := killSource(t, db, n)
	s, _ := testStore(t)
	sp := testSpace(t, s, "resume")
	var once sync.Once
	killed := 0
	opts := append([]Option{}, Retries(0), BatchSize(100), PageSize(1000), OnProgress(func(p Progress) {
		if p.Read >= 1500 {
			once.Do(func() { killed = db.terminate(t) })
		}
	}))
	first, err := Import(context.Background(), db.pool, sp, src, opts...)
	if err == nil {
		t.Fatalf("import survived the terminated backend (killed %d): %+v", killed, first)
	}
	if killed == 0 || first.Stored >= n || first.Stored < 1500 || first.LastKey == "" {
		t.Fatalf("killed %d backends; first run %+v: %v", killed, first, err)
	}
	t.Logf("first run: %d stored, through %s: %v", first.Stored, first.LastKey, err)

	second, err := Import(context.Background(), db.pool, sp, src, Resume(), BatchSize(100), PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	if second.ResumedAfter != first.LastKey || second.Replaced != 0 || first.Stored+second.Stored != n {
		t.Errorf("resumed after %q (want %q): %d stored, %d replaced; with the first run's %d, want %d",
			second.ResumedAfter, first.LastKey, second.Stored, second.Replaced, first.Stored, n)
	}
	checkComplete(t, sp, n)

	// A third resume finds nothing new; a run without Resume replaces everything.
	third, err := Import(context.Background(), db.pool, sp, src, Resume())
	if err != nil || third.Read != 0 || third.ResumedAfter != fmt.Sprintf("k%06d", n) {
		t.Errorf("resume of a finished import: %+v %v", third, err)
	}
	again, err := Import(context.Background(), db.pool, sp, src)
	if err != nil || again.Replaced != n {
		t.Errorf("fresh import over the same rows: %+v %v", again, err)
	}
	checkComplete(t, sp, n)
}

func TestImportReconnects(t *testing.T) {
	db := newTestDB(t, envDSN)
	const n = 6000
	src := killSource(t, db, n)
	s, _ := testStore(t)
	sp := testSpace(t, s, "reconnect")
	kills := 0
	res, err := Import(context.Background(), db.pool, sp, src, BatchSize(100), PageSize(1000), OnProgress(func(p Progress) {
		if p.Read >= int64(1500*(kills+1)) && kills < 2 { // twice: each stall gets its own retries
			kills++
			db.terminate(t)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconnects < 1 || res.Stored != n || res.Replaced != 0 {
		t.Errorf("%+v", res)
	}
	checkComplete(t, sp, n)
}

func TestImportResumeAfterSIGKILL(t *testing.T) {
	db := newTestDB(t, envDSN)
	const n = 20000
	src := killSource(t, db, n)
	dir := t.TempDir()
	path := dir + "/store.db"
	ctx := context.Background()

	for round := 1; ; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "ENGRAM_PG_CHILD=1", "CHILD_DSN="+db.dsn, "CHILD_TABLE="+src.Table, "CHILD_STORE="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once it has committed a few thousand rows more than the last round.
		sc := bufio.NewScanner(out)
		killedAt := -1
		for sc.Scan() {
			stored, _ := strconv.Atoi(strings.TrimPrefix(sc.Text(), "stored "))
			if stored >= 3000 {
				// A moment later, so that the kill lands anywhere in the next batches' work.
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
				cmd.Process.Signal(syscall.SIGKILL)
				killedAt = stored
				break
			}
		}
		go func() { // drain
			for sc.Scan() {
			}
		}()
		err = cmd.Wait()
		if killedAt < 0 {
			if err != nil {
				t.Fatalf("child failed: %v", err)
			}
			t.Logf("round %d: the child finished before being killed", round)
			break
		}
		t.Logf("round %d: SIGKILL after the child reported %d stored (%v)", round, killedAt, err)
		if round == 3 {
			break
		}
	}
	// Finish in this process and check every row is there exactly once.
	s, err := engram.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp := testSpace(t, s, "killed", engram.WithIndex(engram.IndexFlat)) // the graph under -race is slow
	res, err := Import(ctx, db.pool, sp, src, Resume(), BatchSize(50))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAfter == "" {
		t.Error("the last run did not resume")
	}
	t.Logf("final run: resumed after %s, %d read, %d stored, %d replaced (batches committed after the last checkpoint)", res.ResumedAfter, res.Read, res.Stored, res.Replaced)
	checkComplete(t, sp, n)
	if rep, err := s.Check(ctx); err != nil || !rep.OK {
		t.Errorf("store check after kills: %+v %v", rep, err)
	}
}

// childImport is the killed process: a resumable import of small durable batches that
// prints its progress.
func childImport() error {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("CHILD_DSN"))
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := engram.Open(os.Getenv("CHILD_STORE"), engram.WithLockTimeout(10*time.Second))
	if err != nil {
		return err
	}
	defer s.Close()
	sp, err := s.Space(ctx, "killed", engram.WithIndex(engram.IndexFlat))
	if err != nil {
		return err
	}
	opts := append([]Option{}, Resume(), BatchSize(50), OnProgress(func(p Progress) {
		fmt.Printf("stored %d\n", p.Stored)
	}))
	_, err = Import(ctx, pool, sp, Source{Table: os.Getenv("CHILD_TABLE")}, opts...)
	return err
}

// TestImportResumeAfterCancel: ctx ends mid-import (Ctrl-C in the CLI) with batches in
// flight; the checkpoint covers only committed batches, so a resume completes exactly.
func TestImportResumeAfterCancel(t *testing.T) {
	db := newTestDB(t, envDSN)
	const n = 6000
	src := killSource(t, db, n)
	s, _ := testStore(t)
	sp := testSpace(t, s, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	first, err := Import(ctx, db.pool, sp, src, BatchSize(100), InFlight(3), OnProgress(func(p Progress) {
		if p.Read >= 1500 {
			cancel()
		}
	}))
	if err == nil || first.Stored >= n {
		t.Fatalf("canceled import: %+v %v", first, err)
	}
	second, err := Import(context.Background(), db.pool, sp, src, Resume(), BatchSize(100))
	if err != nil {
		t.Fatal(err)
	}
	// Batches that committed after the cancel but before being handled (at most the queue
	// of 2 × InFlight plus InFlight running) come again, as replacements.
	if second.ResumedAfter != first.LastKey || first.Stored+second.Stored != n || second.Replaced > 3*3*100 {
		t.Errorf("first %d stored through %q; resumed after %q: %d stored, %d replaced", first.Stored, first.LastKey, second.ResumedAfter, second.Stored, second.Replaced)
	}
	checkComplete(t, sp, n)
}
