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
