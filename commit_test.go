package engram

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommitCoalescesConcurrentRemembers: 32 goroutines of unary Remember share
// transactions, and every call returns only once its memory is committed.
func TestGroupCommitCoalescesConcurrentRemembers(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "g", WithDimension(8))
	var commits, members atomic.Int64
	setCommitHook(s, func(n int) error {
		commits.Add(1)
		members.Add(int64(n))
		return nil
	})
	const writers, each = 32, 40
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := sp.Remember(ctx, Memory{ID: id, Embedding: randUnit(r, 8)}); err != nil {
					t.Error(err)
					return
				}
				// Durable and applied on return: readable at once.
				if _, err := sp.Get(ctx, id); err != nil {
					t.Errorf("Get after Remember: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	setCommitHook(s, nil)
	if sp.Len() != writers*each || members.Load() != writers*each {
		t.Fatalf("len %d, members %d, want %d", sp.Len(), members.Load(), writers*each)
	}
	t.Logf("%d Remember calls in %d transactions", writers*each, commits.Load())
	if commits.Load() > writers*each/3 {
		t.Fatalf("%d transactions for %d concurrent Remember calls: not grouped", commits.Load(), writers*each)
	}
}

// TestGroupCommitFailureFailsExactlyThatGroup: a failed commit fails the calls that shared
// it and no others; none of their memories are visible; later commits work.
func TestGroupCommitFailureFailsExactlyThatGroup(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "f", WithDimension(4))
	var n atomic.Int64
	var failedGroup atomic.Int64
	setCommitHook(s, func(members int) error {
		if n.Add(1) == 6 {
			failedGroup.Store(int64(members))
			return errors.New("injected: disk full")
		}
		return nil
	})
	var wg sync.WaitGroup
	var failed sync.Map
	var okCount atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for i := 0; i < 20; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, err := sp.Remember(ctx, Memory{ID: id, Embedding: randUnit(r, 4)})
				switch {
				case err == nil:
					okCount.Add(1)
				case errors.Is(err, ErrStorage) && IsRetryable(err):
					failed.Store(id, true)
				default:
					t.Errorf("unexpected error %v", err)
				}
			}
		}()
	}
	wg.Wait()
	setCommitHook(s, nil)
	nFailed := 0
	failed.Range(func(k, _ any) bool {
		nFailed++
		if _, err := sp.Get(ctx, k.(string)); !errors.Is(err, ErrNotFound) {
			t.Errorf("memory %s of the failed commit is visible: %v", k, err)
		}
		return true
	})
	if int64(nFailed) != failedGroup.Load() || failedGroup.Load() == 0 {
		t.Fatalf("%d calls failed, the failed transaction had %d", nFailed, failedGroup.Load())
	}
	if okCount.Load()+int64(nFailed) != 320 || sp.Len() != int(okCount.Load()) || sp.Stats().IndexLen != sp.Len() {
		t.Fatalf("ok %d failed %d len %d index %d", okCount.Load(), nFailed, sp.Len(), sp.Stats().IndexLen)
	}
}

// TestGroupMemberWithBadWriteDoesNotSinkOthers: a request whose write fails inside a shared
// transaction (here: its space was dropped) fails alone.
func TestGroupMemberWithBadWriteDoesNotSinkOthers(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	keep := mustSpace(t, s, "keep", WithDimension(2))
	doomed := mustSpace(t, s, "doomed", WithDimension(2))
	// Drop the space's buckets behind the handle's back so its write fails in the tx.
	if err := s.update(ctx, func(tx *bolt.Tx) error { return deleteSpace(tx, "doomed") }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var goodErr, badErr atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := keep.Remember(ctx, Memory{Embedding: unit(1, float32(i))}); err != nil {
					goodErr.Add(1)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := doomed.Remember(ctx, Memory{Embedding: unit(1, float32(i))}); !errors.Is(err, ErrSpaceNotFound) {
					badErr.Add(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock")
	}
	if goodErr.Load() != 0 || badErr.Load() != 0 || keep.Len() != 160 {
		t.Fatalf("good errors %d, bad not failing %d, len %d", goodErr.Load(), badErr.Load(), keep.Len())
	}
}

// fakeEnv is a commit environment without a store: update runs the group's writes and
// "commits" unless fail says otherwise, recording group sizes.
type fakeEnv struct {
	mu     sync.Mutex
	groups []int
	delay  time.Duration
	fail   func(members int) error // nil: every commit succeeds
}

func (f *fakeEnv) env() commitEnv {
	return commitEnv{
		update: func(members int, fn func(*bolt.Tx) error) error {
			if err := fn(nil); err != nil { // the writes of these tests ignore the tx
				return err
			}
			time.Sleep(f.delay) // the fsync
			if f.fail != nil {
				if err := f.fail(members); err != nil {
					return err
				}
			}
			f.mu.Lock()
			f.groups = append(f.groups, members)
			f.mu.Unlock()
			return nil
		},
		onCommit: issueTickets,
	}
}

// TestCommitterGroupsAndOrdersTickets: concurrent requests share commits; each is settled
// once; tickets follow commit order, so applying in ticket order applies every commit once
// and in order (invariants I1–I4 on type committer).
func TestCommitterGroupsAndOrdersTickets(t *testing.T) {
	f := &fakeEnv{delay: time.Millisecond}
	c := &committer{env: f.env()}
	var turn turnstile
	const writers, each = 16, 25
	var mu sync.Mutex
	var applied []string // in apply order
	committed := map[string]uint64{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("%d/%d", w, i)
				r := &writeReq{ctx: context.Background(), turn: &turn, write: func(*bolt.Tx) error { return nil }}
				if err := c.submit(r); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed[id] = r.ticket
				mu.Unlock()
				turn.inTurn(r.ticket, func() {
					mu.Lock()
					applied = append(applied, id)
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	total := 0
	for _, g := range f.groups {
		total += g
	}
	if total != writers*each || len(applied) != writers*each {
		t.Fatalf("committed %d members, applied %d, want %d", total, len(applied), writers*each)
	}
	if len(f.groups) >= writers*each/2 {
		t.Fatalf("%d commits for %d concurrent requests: not grouped", len(f.groups), writers*each)
	}
	for i, id := range applied {
		if committed[id] != uint64(i+1) {
			t.Fatalf("apply %d was ticket %d", i+1, committed[id])
		}
	}
}

// TestCommitterIsolatesFailingAndPanickingMembers: in a shared transaction, a member whose
// write fails gets its own error, one whose write panics (bbolt meeting a damaged page)
// gets CORRUPT, and the other members commit without them.
func TestCommitterIsolatesFailingAndPanickingMembers(t *testing.T) {
	f := &fakeEnv{delay: 5 * time.Millisecond}
	c := &committer{env: f.env()}
	var turn turnstile
	boom := errors.New("bad write")
	// A first request holds the lead while the others queue up, so they share one group.
	hold := make(chan struct{})
	first := &writeReq{ctx: context.Background(), turn: &turn, write: func(*bolt.Tx) error { <-hold; return nil }}
	firstDone := make(chan error)
	go func() { firstDone <- c.submit(first) }()
	for !c.isLeading() {
		time.Sleep(time.Millisecond)
	}
	kinds := []string{"ok", "fail", "ok", "panic", "ok"}
	errs := make([]error, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		wg.Go(func() {
			r := &writeReq{ctx: context.Background(), turn: &turn, write: func(*bolt.Tx) error {
				switch kind {
				case "fail":
					return boom
				case "panic":
					panic("invalid page type")
				}
				return nil
			}}
			errs[i] = c.submit(r)
			if errs[i] == nil {
				turn.inTurn(r.ticket, func() {})
			}
		})
	}
	for c.queued() < len(kinds) {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	turn.inTurn(first.ticket, func() {})
	wg.Wait()
	for i, kind := range kinds {
		switch kind {
		case "ok":
			if errs[i] != nil {
				t.Errorf("member %d: %v", i, errs[i])
			}
		case "fail":
			if !errors.Is(errs[i], boom) {
				t.Errorf("failing member: %v", errs[i])
			}
		case "panic":
			if !errors.Is(errs[i], ErrCorrupt) {
				t.Errorf("panicking member: %v, want CORRUPT", errs[i])
			}
		}
	}
	if got := f.groups[len(f.groups)-1]; got != 3 {
		t.Fatalf("last group committed %d members, want the 3 good ones (groups %v)", got, f.groups)
	}
}

// TestCommitterFailedCommitFailsItsGroup: a commit that fails (a full disk) fails every
// member of that group with the commit's error and gives none a ticket.
func TestCommitterFailedCommitFailsItsGroup(t *testing.T) {
	full := errors.New("no space left on device")
	f := &fakeEnv{fail: func(int) error { return full }}
	c := &committer{env: f.env()}
	var turn turnstile
	r := &writeReq{ctx: context.Background(), turn: &turn, write: func(*bolt.Tx) error { return nil }}
	if err := c.submit(r); !errors.Is(err, full) || r.ticket != 0 {
		t.Fatalf("err %v ticket %d", err, r.ticket)
	}
	f.fail = nil
	r2 := &writeReq{ctx: context.Background(), turn: &turn, write: func(*bolt.Tx) error { return nil }}
	if err := c.submit(r2); err != nil || r2.ticket != 1 {
		t.Fatalf("after the failure: err %v ticket %d (want 1: the failed commit took none)", err, r2.ticket)
	}
}

// TestCommitterCanceledMemberLeavesNoTrace: a request canceled while its group's
// transaction runs is taken out before the commit, and the rest commit without it.
func TestCommitterCanceledMemberLeavesNoTrace(t *testing.T) {
	f := &fakeEnv{}
	c := &committer{env: f.env()}
	ctx, cancel := context.WithCancel(context.Background())
	var writes atomic.Int64
	r := &writeReq{ctx: ctx, write: func(*bolt.Tx) error { writes.Add(1); cancel(); return nil }}
	if err := c.submit(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want canceled", err)
	}
	if len(f.groups) != 0 || writes.Load() != 1 {
		t.Fatalf("groups %v writes %d: the canceled request committed", f.groups, writes.Load())
	}
}

// TestTurnstileSurvivesPanickingApply: an apply step that panics leaves its turn, so the
// space's later writes are not wedged behind it.
func TestTurnstileSurvivesPanickingApply(t *testing.T) {
	var turn turnstile
	a, b := turn.issue(), turn.issue()
	func() {
		defer func() { recover() }()
		turn.inTurn(a, func() { panic("apply failed") })
	}()
	done := make(chan struct{})
	go func() { turn.inTurn(b, func() {}); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the next ticket waits forever after a panicking apply")
	}
}

func (c *committer) isLeading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}
