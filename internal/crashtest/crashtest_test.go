package crashtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/engram-go/engram"
)

// The test binary doubles as the child: with ENGRAM_CRASH_CHILD set, TestChild runs the
// writer until it is killed.
func TestChild(t *testing.T) {
	store := os.Getenv("ENGRAM_CRASH_CHILD")
	if store == "" {
		t.Skip("only runs as the crash test's child")
	}
	dim, _ := strconv.Atoi(os.Getenv("ENGRAM_CRASH_DIM"))
	run, _ := strconv.Atoi(os.Getenv("ENGRAM_CRASH_RUN"))
	closeAt, _ := time.ParseDuration(os.Getenv("ENGRAM_CRASH_CLOSE_AT"))
	err := RunChild(context.Background(), ChildConfig{Store: store, Log: os.Getenv("ENGRAM_CRASH_LOG"), Dim: dim, Run: run, CloseAt: closeAt})
	fmt.Fprintln(os.Stderr, "child:", err)
	os.Exit(3)
}

func TestCrashHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := Run(Config{
		Dir: dir, Trials: 6, Dim: 16, MinRun: 100 * time.Millisecond, MaxRun: 600 * time.Millisecond, Seed: 1,
		StartAcks:  500, // the kill window opens once the child is writing (CI may be loaded)
		CloseEvery: 2,   // half the kills land during or after a Close
		Child: func(c ChildConfig) *exec.Cmd {
			cmd := exec.Command(exe, "-test.run=^TestChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "ENGRAM_CRASH_CHILD="+c.Store, "ENGRAM_CRASH_LOG="+c.Log,
				"ENGRAM_CRASH_DIM="+strconv.Itoa(c.Dim), "ENGRAM_CRASH_RUN="+strconv.Itoa(c.Run),
				"ENGRAM_CRASH_CLOSE_AT="+c.CloseAt.String())
			return cmd
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	if sum.Violations() > 0 || sum.Acknowledged == 0 || sum.Closes != 3 {
		t.Fatalf("%s\n%q", sum, sum.Details)
	}
	// The kills must also have hit a working migrator: the tiered space has moved memories.
	st, err := engram.Open(filepath.Join(dir, "crash.db"), engram.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sp, err := st.LookupSpace("tiered")
	if err != nil {
		t.Fatal(err)
	}
	if tiers := sp.Stats().Tiers; tiers[1]+tiers[2] == 0 {
		t.Fatalf("tiered space never migrated: tiers %v", tiers)
	} else {
		t.Logf("tiered space: hot/warm/cold %v", tiers)
	}
	// And the warm space's warm index: demoted into, snapshotted.
	if sp, err = st.LookupSpace("warm"); err != nil {
		t.Fatal(err)
	}
	if st := sp.Stats(); st.Tiers[1] == 0 || st.Tiering.WarmLoadedFrom != "snapshot" {
		t.Fatalf("warm space: tiers %v, warm index from %q", st.Tiers, st.Tiering.WarmLoadedFrom)
	} else {
		t.Logf("warm space: hot/warm/cold %v, warm index from %s", st.Tiers, st.Tiering.WarmLoadedFrom)
	}
}

func TestLogParsing(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/log"
	os.WriteFile(p, []byte("A unary u1\nB batch b1-b0 3\nc batch b1-b0-1 0.5\nC batch b1-b0-1 0.5\nc batch b1-b0-1 0.7\nf batch b1-b0-2\nF unary u1\nA unary u2\nB bat"), 0o600)
	e, err := readLog(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.present) != 4 || e.present["unary/u1"] != "" || !e.forgot["unary/u1"] || !e.mayForget["batch/b1-b0-2"] {
		t.Fatalf("%+v", e)
	}
	if !e.confAllowed("batch/b1-b0-1", 0.5) || !e.confAllowed("batch/b1-b0-1", 0.7) || e.confAllowed("batch/b1-b0-1", 1) || !e.confAllowed("batch/b1-b0-0", 1) {
		t.Fatal("confidence rules")
	}
	if batchOf("b1-b3-7") != "b1-b3" || batchOf("u1-w3-9") != "" || batchOf("s2-5") != "" {
		t.Fatal("batchOf")
	}
}
