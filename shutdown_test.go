package engram

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
)

// deadlockDetector fails the test if fn has not returned within a minute. It detects a
// hang; it is not a performance bound (each fn here takes milliseconds). It ends the test
// binary with every goroutine's stack rather than failing the test, whose cleanup
// (closing the store) would hang too.
func deadlockDetector(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		debug.SetTraceback("all")
		msg := fmt.Sprintf("%s: %s did not return within a minute: a hang", t.Name(), what)
		go func() { panic(msg) }() // outside the test goroutine: no cleanup runs (it would hang too)
		select {}
	}
}

// TestCloseWithUnreadAcks: 5,000 sends into a QueueSize-100 stream whose acks nobody
// reads used to block Stream.Close and Store.Close forever (the worker waited for a
// reader). Now Close commits every accepted memory, leaves the buffered acks readable,
// drops the rest and counts them, and returns; a Send blocked on the full queue returns
// CLOSED. Both ways in: Stream.Close first, or Store.Close alone.
func TestCloseWithUnreadAcks(t *testing.T) {
	for _, via := range []string{"Stream.Close", "Store.Close"} {
		t.Run(via, func(t *testing.T) {
			ctx := context.Background()
			path := t.TempDir() + "/s.db"
			s := openHooked(t, path, WithNoSync())
			sp := mustSpace(t, s, "st", WithDimension(2))
			st := sp.NewStream(StreamOptions{QueueSize: 100, MaxItems: 10, MaxDelay: time.Millisecond})
			var accepted atomic.Int64
			var refused error
			producer := make(chan struct{})
			go func() {
				defer close(producer)
				for i := 0; i < 5000; i++ {
					if _, err := st.Send(ctx, Memory{ID: fmt.Sprintf("m%d", i), Embedding: unit(1, float32(i))}); err != nil {
						refused = err
						return
					}
					accepted.Add(1)
				}
			}()
			for sp.Len() < 100 || st.Len() < 100 { // the queue is full and the acks buffer too
				time.Sleep(time.Millisecond)
			}
			var closeErr error
			deadlockDetector(t, via, func() {
				if via == "Stream.Close" {
					closeErr = st.Close()
				}
				s.Close()
				<-producer
			})
			if closeErr != nil {
				t.Fatalf("Stream.Close: %v (every accepted memory was stored)", closeErr)
			}
			if !errors.Is(refused, ErrClosed) {
				t.Fatalf("the blocked Send returned %v, want CLOSED", refused)
			}
			acks := 0
			for a := range st.Acks() {
				if a.Err != nil || a.Seq != uint64(acks) {
					t.Fatalf("ack %d: %+v", acks, a)
				}
				acks++
			}
			if acks != 100 || int64(acks)+st.DroppedAcks() != accepted.Load() {
				t.Fatalf("%d acks read + %d dropped, %d accepted", acks, st.DroppedAcks(), accepted.Load())
			}
			s2 := openHooked(t, path)
			sp2, _ := s2.LookupSpace("st")
			if int64(sp2.Len()) != accepted.Load() {
				t.Fatalf("%d memories stored, %d accepted", sp2.Len(), accepted.Load())
			}
		})
	}
}

// TestStoreCloseIsBounded: Store.Close returns whatever feeds exist: a stream and a
// batcher with queued work, a stream whose acks nobody reads, writers blocked on a
// full stream queue, and a tiered space whose hot tier is full with the migrator off (a
// drain that waited for hot-tier room would wait forever). Everything accepted is
// committed.
func TestStoreCloseIsBounded(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	s := openHooked(t, path, WithNoSync(), WithMigrateInterval(0))
	sp := mustSpace(t, s, "hot", WithDimension(2), WithTiering(tier.Policy{HotCapacity: 50, Backpressure: tier.Block}))
	var fill []Memory
	for i := 0; i < 60; i++ {
		fill = append(fill, Memory{ID: fmt.Sprintf("f%d", i), Embedding: unit(1, float32(i))})
	}
	mustStore(t, sp, fill) // 60 ≥ 1.1 × 50: overloaded, and nothing will demote
	if st := sp.Stats().Tiering.State; st != tier.Overloaded {
		t.Fatalf("hot tier state %v", st)
	}
	stream := sp.NewStream(StreamOptions{QueueSize: 20, MaxItems: 5, MaxDelay: time.Millisecond})
	batcher := sp.NewBatcher(BatcherOptions{MaxItems: 5, MaxDelay: time.Millisecond})
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[string]bool{}
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("s%d-%d", g, i)
				if _, err := stream.Send(ctx, Memory{ID: id, Embedding: unit(2, float32(i))}); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("b%d-%d", g, i)
				if _, err := batcher.Remember(ctx, Memory{ID: id, Embedding: unit(3, float32(i))}); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("batcher: %v", err)
					}
					return
				}
				mu.Lock()
				stored[id] = true
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the writers pile up behind the full hot tier
	deadlockDetector(t, "Store.Close", func() {
		s.Close()
		wg.Wait()
	})
	acked := 0
	for a := range stream.Acks() {
		if a.Err == nil {
			acked++
			stored[a.ID] = true
		}
	}
	s2 := openHooked(t, path)
	sp2, _ := s2.LookupSpace("hot")
	for id := range stored {
		if _, err := sp2.Get(ctx, id); err != nil {
			t.Fatalf("acknowledged %s: %v", id, err)
		}
	}
	t.Logf("stream: %d acked, %d acks dropped; batcher: %d stored; %d memories", acked, stream.DroppedAcks(), len(stored)-acked, sp2.Len())
}

// TestClosedStoreSaysClosed: every write path reports a closed store as CLOSED — none
// returns success while storing nothing. RememberMixed returned (res, nil) with CLOSED
// items; a Stream made or fed after Close accepted memories and, under NoAcks, dropped
// them silently while Stream.Close returned nil.
func TestClosedStoreSaysClosed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "c", WithDimension(2))
	before := sp.NewStream(StreamOptions{NoAcks: true})
	// A stream Close does not know of (created as Close listed the feeds): the store
	// closes under it with a memory accepted and not yet committed.
	missed := sp.NewStream(StreamOptions{NoAcks: true, MaxItems: 1000, MaxDelay: time.Hour})
	if _, err := missed.Send(ctx, Memory{ID: "pending", Embedding: unit(1, 1)}); err != nil {
		t.Fatal(err)
	}
	sp.unregister(missed)
	s.Close()

	res, err := s.RememberMixed(ctx, []SpaceMemory{{Space: "c", Memory: Memory{Embedding: unit(1, 2)}}})
	if !errors.Is(err, ErrClosed) || res.Failed != 1 || !errors.Is(res.Items[0].Err, ErrClosed) {
		t.Fatalf("RememberMixed after Close: %v, %+v", err, res)
	}
	if _, err := before.Send(ctx, Memory{Embedding: unit(1, 2)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send on a stream of a closed store: %v", err)
	}
	for _, noAcks := range []bool{false, true} {
		after := sp.NewStream(StreamOptions{NoAcks: noAcks})
		if _, err := after.Send(ctx, Memory{Embedding: unit(1, 2)}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send on a stream made after Close (NoAcks %v): %v", noAcks, err)
		}
		if err := after.Close(); err != nil {
			t.Fatalf("Close of a stream that accepted nothing: %v", err)
		}
	}
	if _, err := missed.Send(ctx, Memory{Embedding: unit(1, 2)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send on a stream Close missed: %v", err)
	}
	err = missed.Close()
	if !errors.Is(err, ErrClosed) || err == nil || !strings.Contains(err.Error(), "1 accepted memories were not stored") {
		t.Fatalf("Close of a stream whose accepted memory could not be stored: %v", err)
	}
}

// TestFailedCloseIsFinal: when Close cannot save a graph snapshot (a full disk), it still
// releases the file and says so with a non-retryable CLOSED that wraps the STORAGE cause
// (it returned retryable STORAGE, and a second Close returned that again without
// retrying: a retry loop would spin). The store is consistent: a reopen finds every
// memory and rebuilds the graph from the records.
func TestFailedCloseIsFinal(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	s := openHooked(t, path)
	sp := mustSpace(t, s, "g", WithIndex(IndexHNSW))
	mems := synthetic(rand.New(rand.NewPCG(3, 3)), 300, 8, "g")
	mustStore(t, sp, mems)
	full := &fs.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	setCommitHook(s, func(int) error { return full })
	err := s.Close()
	if CodeOf(err) != CodeClosed || IsRetryable(err) || !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close with a failing snapshot = %v (code %s, retryable %v), want non-retryable CLOSED wrapping STORAGE",
			err, CodeOf(err), IsRetryable(err))
	}
	if again := s.Close(); again != err {
		t.Fatalf("second Close = %v, want the first's result", again)
	}
	if _, err := sp.Get(ctx, mems[0].ID); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after the failed Close: %v", err)
	}
	s2 := openHooked(t, path, WithLockTimeout(0)) // the file was released
	sp2, _ := s2.LookupSpace("g")
	if st := sp2.Stats(); st.Len != len(mems) || st.IndexLoadedFrom != "records" {
		t.Fatalf("after reopen: %d memories, index from %q", st.Len, st.IndexLoadedFrom)
	}
	if rep, err := s2.Check(ctx); err != nil || !rep.OK {
		t.Fatalf("Check after reopen: %v %+v", err, rep)
	}
}

// TestCloseWaitsForAReader: a reader that keeps reading, however slowly, gets every ack
// through Close; only a reader that stops (no ack taken for AckGrace) loses the rest.
func TestCloseWaitsForAReader(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "r", WithDimension(2))
	st := sp.NewStream(StreamOptions{QueueSize: 20, MaxItems: 5, MaxDelay: time.Millisecond, AckGrace: 500 * time.Millisecond})
	var acks atomic.Int64
	reader := make(chan struct{})
	go func() {
		defer close(reader)
		for range st.Acks() {
			acks.Add(1)
			time.Sleep(2 * time.Millisecond) // slower than the commits
		}
	}()
	for i := 0; i < 200; i++ {
		if _, err := st.Send(ctx, Memory{Embedding: unit(1, float32(i))}); err != nil {
			t.Fatal(err)
		}
	}
	deadlockDetector(t, "Stream.Close", func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		<-reader
	})
	if acks.Load() != 200 || st.DroppedAcks() != 0 {
		t.Fatalf("%d acks read, %d dropped, of 200", acks.Load(), st.DroppedAcks())
	}
}
