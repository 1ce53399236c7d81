//go:build unix

package engram

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The durability promise: once a write call returns successfully with default options, a
// SIGKILL of the process right after loses nothing, and a batch is all or nothing.
//
// The parent test runs this test binary again as a child that writes batches and prints
// an acknowledgement line after each successful BatchRemember; the parent kills it with
// SIGKILL after a random number of acknowledgements, reopens the store and checks.

const (
	childEnv   = "ENGRAM_DURABILITY_CHILD"
	childBatch = 40
	childDim   = 12
)

func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("only runs as the child of TestSIGKILLLosesNothingAcknowledged")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	sp, err := s.Space(context.Background(), "crash")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	w := bufio.NewWriter(os.Stdout)
	for b := 0; ; b++ {
		batch := fmt.Sprintf("%d-%d", os.Getpid(), b)
		mems := make([]Memory, childBatch)
		for i := range mems {
			mems[i] = Memory{
				ID:        fmt.Sprintf("%s-%d", batch, i),
				Content:   strings.Repeat("x", r.IntN(2000)),
				Embedding: randUnit(r, childDim),
				Metadata:  map[string]string{"batch": batch},
			}
		}
		if b%3 == 2 { // unary writes too
			if _, err := sp.Remember(context.Background(), mems[0]); err != nil {
				fmt.Println("ERR", err)
				os.Exit(2)
			}
			fmt.Fprintf(w, "ACK1 %s\n", mems[0].ID)
			w.Flush()
			continue
		}
		if res, err := sp.BatchRemember(context.Background(), mems); err != nil || res.Failed > 0 {
			fmt.Println("ERR", err, res.Err())
			os.Exit(2)
		}
		fmt.Fprintf(w, "ACK %s\n", batch)
		w.Flush()
	}
}

func TestSIGKILLLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	r := rand.New(rand.NewPCG(99, 1))
	acked := map[string]bool{}    // whole batches
	ackedOne := map[string]bool{} // unary memories
	for trial := 0; trial < 3; trial++ {
		cmd := exec.Command(exe, "-test.run=^TestDurabilityChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 3 + r.IntN(25)
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "ACK":
				acked[f[1]] = true
			case len(f) == 2 && f[0] == "ACK1":
				ackedOne[f[1]] = true
			case len(f) > 0 && f[0] == "ERR":
				t.Fatalf("child failed: %s", sc.Text())
			default:
				continue
			}
			if n++; n == killAfter {
				// Kill at once: the acknowledgement was printed after the call returned, and
				// nothing may be lost.
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if n < killAfter {
			t.Fatalf("child stopped after %d acknowledgements", n)
		}
		verifyCrashStore(t, path, acked, ackedOne)
	}
}

func verifyCrashStore(t *testing.T, path string, acked, ackedOne map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, WithLockTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	sp, err := s.LookupSpace("crash")
	if err != nil {
		t.Fatal(err)
	}
	perBatch := map[string]int{}
	total := 0
	for m, err := range sp.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		total++
		perBatch[m.Metadata["batch"]]++
	}
	for b, n := range perBatch {
		if n != childBatch && n != 1 {
			t.Fatalf("batch %s is partially present: %d of %d", b, n, childBatch)
		}
	}
	for b := range acked {
		if perBatch[b] != childBatch {
			t.Fatalf("acknowledged batch %s lost: %d of %d present", b, perBatch[b], childBatch)
		}
		m, err := sp.Get(ctx, b+"-7")
		if err != nil {
			t.Fatal(err)
		}
		hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 1})
		if err != nil || len(hits) != 1 || hits[0].Memory.ID != m.ID {
			t.Fatalf("acknowledged memory %s not recalled at rank 1: %v %v", m.ID, hits, err)
		}
	}
	for id := range ackedOne {
		if _, err := sp.Get(ctx, id); err != nil {
			t.Fatalf("acknowledged unary memory %s lost: %v", id, err)
		}
	}
	if st := sp.Stats(); st.IndexLen != total || st.Len != total {
		t.Fatalf("index holds %d, counters %d, disk %d", st.IndexLen, st.Len, total)
	}
}
