package engram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backupOp is one write of a backup test's writer, and when it started and was
// acknowledged on the test's clock.
type backupOp struct {
	start, ack uint64
	apply      func(state map[string]string) // the op's effect on the writer's model
}

// TestBackupUnderConcurrentWrites backs a store up while writers remember, replace,
// update and forget memories in two spaces and readers recall, then checks the copy
// against a model of each writer: the copy must hold the state after some prefix of the
// writer's operations (a transaction is all or nothing, and commits are ordered), at least
// every operation acknowledged before Backup was called and nothing started after it
// returned. The copy passes Check and opens its graph from the snapshot.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	graph := mustSpace(t, s, "graph", WithIndex(IndexHNSW), WithHNSW(8, 32, 32))
	flat := mustSpace(t, s, "flat", WithIndex(IndexFlat))
	const dim = 16
	r := rand.New(rand.NewPCG(9, 9))
	mustStore(t, graph, synthetic(r, 400, dim, "base"))
	mustStore(t, flat, synthetic(r, 100, dim, "base"))
	if err := graph.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	mustStore(t, graph, synthetic(r, 50, dim, "late")) // the graph changed since its snapshot

	var clock atomic.Uint64
	stop := make(chan struct{})
	const writers = 4
	logs := make([][]backupOp, writers)
	var acked [writers]atomic.Int32
	errs := make(chan error, writers+1)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var live []string // IDs this writer has stored and not forgotten, as "space/id"
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sp := []*Space{graph, flat}[i%2]
				op := backupOp{start: clock.Add(1)}
				var err error
				switch k := r.IntN(4); {
				case k == 0 || len(live) < 4: // a batch of new memories
					mems := synthetic(r, 3, dim, fmt.Sprintf("w%d-%d-", w, i))
					keys := make([]string, len(mems))
					for j := range mems {
						mems[j].Content = fmt.Sprintf("new %d", i)
						keys[j] = sp.name + "/" + mems[j].ID
					}
					var res *BatchResult
					if res, err = sp.BatchRemember(ctx, mems); err == nil && res.Failed > 0 {
						err = res.Err()
					}
					op.apply = func(st map[string]string) {
						for _, k := range keys {
							st[k] = fmt.Sprintf("new %d", i)
						}
					}
					live = append(live, keys...)
				case k == 1: // replace a memory
					key := live[r.IntN(len(live))]
					sp, id := splitKey(t, s, key)
					m := synthetic(r, 1, dim, "x")[0]
					m.ID, m.Content = id, fmt.Sprintf("replaced %d", i)
					_, err = sp.Remember(ctx, m)
					op.apply = func(st map[string]string) { st[key] = fmt.Sprintf("replaced %d", i) }
				case k == 2: // update its confidence
					key := live[r.IntN(len(live))]
					sp, id := splitKey(t, s, key)
					c := float32(i%100) / 100
					var res *BatchResult
					if res, err = sp.BatchUpdate(ctx, []Update{{ID: id, Patch: Patch{Confidence: &c}}}); err == nil && res.Failed > 0 {
						err = res.Err()
					}
					op.apply = func(st map[string]string) { st[key] = withConf(st[key], c) }
				default: // forget one
					j := r.IntN(len(live))
					key := live[j]
					live = append(live[:j], live[j+1:]...)
					sp, id := splitKey(t, s, key)
					_, err = sp.Forget(ctx, id)
					op.apply = func(st map[string]string) { delete(st, key) }
				}
				if err != nil {
					errs <- err
					return
				}
				op.ack = clock.Add(1)
				logs[w] = append(logs[w], op)
				acked[w].Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // a reader beside the writers
		defer wg.Done()
		r := rand.New(rand.NewPCG(5, 5))
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := graph.Recall(ctx, Query{Embedding: randUnit(r, dim), K: 5}); err != nil {
				errs <- err
				return
			}
		}
	}()

	for w := range writers { // every writer has a few writes acknowledged before the backup
		for deadline := time.Now().Add(10 * time.Second); acked[w].Load() < 5 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	var buf bytes.Buffer
	begin := clock.Add(1)
	n, err := s.Backup(ctx, &buf)
	end := clock.Add(1)
	time.Sleep(50 * time.Millisecond) // writes go on after the backup
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup: %d bytes (%d in the buffer), %v", n, buf.Len(), err)
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Check(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("copy: check %v %+v", err, rep)
	}
	cg, err := c.LookupSpace("graph")
	if err != nil {
		t.Fatal(err)
	}
	if from := cg.Stats().IndexLoadedFrom; from != "snapshot" {
		t.Fatalf("the copy's graph was loaded from %q, want the snapshot", from)
	}
	// What the copy holds, by writer.
	got := make([]map[string]string, writers)
	for w := range got {
		got[w] = map[string]string{}
	}
	for _, name := range []string{"graph", "flat"} {
		sp, _ := c.LookupSpace(name)
		for m, err := range sp.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			var w int
			if _, err := fmt.Sscanf(m.ID, "w%d-", &w); err != nil {
				continue // a memory stored before the writers started
			}
			got[w][name+"/"+m.ID] = withConf(m.Content, m.Conf())
		}
	}
	for w, log := range logs {
		lo, hi := 0, 0 // the copy must reflect a prefix of log of a length in [lo, hi]
		for i, op := range log {
			if op.ack < begin {
				lo = i + 1
			}
			if op.start < end {
				hi = i + 1
			}
		}
		if lo == 0 {
			t.Fatalf("writer %d: no write acknowledged before the backup; the test proves nothing", w)
		}
		model := map[string]string{}
		for _, op := range log[:lo] {
			op.apply(model)
		}
		found := -1
		for p := lo; ; p++ {
			if sameState(model, got[w]) {
				found = p
				break
			}
			if p == hi {
				break
			}
			log[p].apply(model)
		}
		if found < 0 {
			t.Fatalf("writer %d: the copy (%d memories) is not the state after any of its operations %d to %d", w, len(got[w]), lo, hi)
		}
		t.Logf("writer %d: copy holds its first %d operations (%d acknowledged before the backup, %d started before it ended, %d in all)",
			w, found, lo, hi, len(log))
	}
}

// splitKey resolves a "space/id" model key.
func splitKey(t *testing.T, s *Store, key string) (*Space, string) {
	for i := range key {
		if key[i] == '/' {
			sp, err := s.LookupSpace(key[:i])
			if err != nil {
				t.Error(err)
			}
			return sp, key[i+1:]
		}
	}
	panic("bad key " + key)
}

// withConf renders content with a confidence: the model's value of a memory. A memory's
// confidence starts as synthetic's, which the model does not know, so only an updated one
// is compared ("content|conf").
func withConf(content string, c float32) string {
	if i := bytes.IndexByte([]byte(content), '|'); i >= 0 {
		content = content[:i]
	}
	return fmt.Sprintf("%s|%.2f", content, c)
}

// sameState compares a model with what a copy holds. The model knows a memory's
// confidence only after an update: without one, only its content is compared.
func sameState(model, got map[string]string) bool {
	if len(model) != len(got) {
		return false
	}
	for k, v := range model {
		g, ok := got[k]
		if !ok {
			return false
		}
		if bytes.IndexByte([]byte(v), '|') < 0 {
			if i := bytes.IndexByte([]byte(g), '|'); i >= 0 {
				g = g[:i]
			}
		}
		if g != v {
			return false
		}
	}
	return true
}

// TestBackupFailures: a canceled or expired ctx and a failing writer end the backup with
// their codes (nothing half-written passes for a copy); a closed store refuses.
func TestBackupFailures(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	mustStore(t, mustSpace(t, s, "a"), synthetic(rand.New(rand.NewPCG(1, 2)), 200, 32, "m"))

	cctx, cancel := context.WithCancel(ctx)
	w := &cancelAfter{n: 1, cancel: cancel}
	n, err := s.Backup(cctx, w)
	if CodeOf(err) != CodeCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled mid-copy: %d bytes, %v", n, err)
	}
	if w.writes != 1 {
		t.Fatalf("%d writes after the cancel, want the copy to stop", w.writes-1)
	}

	dctx, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	if _, err := s.Backup(dctx, &bytes.Buffer{}); CodeOf(err) != CodeDeadlineExceeded {
		t.Fatalf("expired deadline: %v", err)
	}

	boom := errors.New("disk full")
	if _, err := s.Backup(ctx, failWriter{boom}); CodeOf(err) != CodeStorage || !errors.Is(err, boom) {
		t.Fatalf("failing writer: %v", err)
	}

	// A read-only store backs up too (without snapshotting).
	path := s.Path()
	s.Close()
	if _, err := s.Backup(ctx, &bytes.Buffer{}); CodeOf(err) != CodeClosed {
		t.Fatalf("closed store: %v", err)
	}
	ro, err := Open(path, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var buf bytes.Buffer
	if n, err := ro.Backup(ctx, &buf); err != nil || n != int64(buf.Len()) {
		t.Fatalf("read-only backup: %d %v", n, err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sp, err := c.LookupSpace("a"); err != nil || sp.Len() != 200 {
		t.Fatalf("copy of a read-only store: %v", err)
	}
}

// cancelAfter cancels its ctx after n writes.
type cancelAfter struct {
	n, writes int
	cancel    func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.writes++
	if c.writes == c.n {
		c.cancel()
	}
	return len(p), nil
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
