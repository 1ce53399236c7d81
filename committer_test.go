package engram

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

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
