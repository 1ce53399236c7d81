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
)

func TestRememberAllKeepsInputOrder(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "all", WithDimension(4))
	mems := synthetic(rand.New(rand.NewPCG(1, 1)), 2500, 4, "m")
	mems[1234].Embedding = unit(0, 0, 0, 0) // bad, in the middle of the second batch
	res, err := sp.RememberAll(ctx, mems, 1000, 2)
	if err != nil || res.Stored != 2499 || res.Failed != 1 || len(res.Items) != 2500 {
		t.Fatalf("RememberAll: %v stored %d failed %d", err, res.Stored, res.Failed)
	}
	var e *Error
	if !errors.As(res.Items[1234].Err, &e) || e.Code != CodeInvalidEmbedding || e.Item != 1234 {
		t.Fatalf("bad item: %v", res.Items[1234].Err)
	}
	for i, it := range res.Items {
		if i != 1234 && it.ID != mems[i].ID {
			t.Fatalf("item %d has ID %q, want %q", i, it.ID, mems[i].ID)
		}
	}
	if _, err := sp.RememberAll(ctx, nil, 10, 1); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty RememberAll: %v", err)
	}
}

func TestBatcherFlushesOnSizeTimeAndClose(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "b", WithDimension(2))
	var commits atomic.Int64
	setCommitHook(s, func(int) error { commits.Add(1); return nil })

	// Size: 8 callers, MaxItems 8, a delay that would never fire.
	b := sp.NewBatcher(BatcherOptions{MaxItems: 8, MaxDelay: time.Hour})
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := Memory{ID: fmt.Sprintf("size-%d", i), Embedding: unit(1, float32(i))}
			if i == 5 {
				m.Confidence = Confidence(3) // this caller, and only it, gets an error
			}
			ids[i], errs[i] = b.Remember(ctx, m)
		}()
	}
	waitOrFail(t, &wg, 10*time.Second, "size flush")
	for i := 0; i < 8; i++ {
		if i == 5 {
			if !errors.Is(errs[i], ErrInvalidConfidence) || ids[i] != "" {
				t.Fatalf("caller 5: %q %v", ids[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || ids[i] != fmt.Sprintf("size-%d", i) {
			t.Fatalf("caller %d: %q %v", i, ids[i], errs[i])
		}
	}
	if c := commits.Load(); c != 1 {
		t.Fatalf("%d commits for one full batch", c)
	}
	b.Close()

	// Time: one memory, MaxItems far away, MaxDelay 30 ms.
	b = sp.NewBatcher(BatcherOptions{MaxItems: 1000, MaxDelay: 30 * time.Millisecond})
	start := time.Now()
	if _, err := b.Remember(ctx, Memory{Embedding: unit(1, 1)}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("flushed after %v, before MaxDelay", el)
	}
	b.Close()

	// Close: queued memories with a long delay are committed by Close.
	b = sp.NewBatcher(BatcherOptions{MaxItems: 1000, MaxDelay: time.Hour})
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Remember(ctx, Memory{ID: fmt.Sprintf("close-%d", i), Embedding: unit(2, float32(i))}); err != nil {
				t.Error(err)
			}
		}()
	}
	for b.Len() < 20 {
		time.Sleep(time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, &wg, 10*time.Second, "close")
	for i := 0; i < 20; i++ {
		if _, err := sp.Get(ctx, fmt.Sprintf("close-%d", i)); err != nil {
			t.Fatalf("memory accepted before Close lost: %v", err)
		}
	}
	if _, err := b.Remember(ctx, Memory{Embedding: unit(1, 0)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Remember after Close: %v", err)
	}

	// Flush commits what is queued without waiting for the delay.
	b = sp.NewBatcher(BatcherOptions{MaxItems: 1000, MaxDelay: time.Hour})
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Remember(ctx, Memory{ID: "flushed", Embedding: unit(3, 1)})
	}()
	for b.Len() < 1 {
		time.Sleep(time.Millisecond)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitOrFail(t, &wg, 10*time.Second, "flush")
	if _, err := sp.Get(ctx, "flushed"); err != nil {
		t.Fatal(err)
	}
	setCommitHook(s, nil)
	s.Close() // closes the last batcher too
}

func TestBatcherWithdrawsOnCancel(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "w", WithDimension(2))
	b := sp.NewBatcher(BatcherOptions{MaxItems: 100, MaxDelay: time.Hour})
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Remember(ctx, Memory{ID: "gone", Embedding: unit(1, 1)}); !errors.Is(err, ErrDeadlineExceeded) {
		t.Fatalf("Remember with expiring ctx: %v", err)
	}
	b.Flush(context.Background())
	if _, err := sp.Get(context.Background(), "gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("withdrawn memory was stored: %v", err)
	}
}

func TestAdaptiveRule(t *testing.T) {
	z := newSizer(Adaptive{Initial: 100, Window: 3})
	for i := 0; i < 3; i++ {
		z.observe(300 * time.Millisecond)
	}
	if z.size != 50 {
		t.Fatalf("p99 300ms: size %d, want halved to 50", z.size)
	}
	for i := 0; i < 3; i++ {
		z.observe(100 * time.Millisecond)
	}
	if z.size != 50 {
		t.Fatalf("p99 between the targets: size %d, want unchanged", z.size)
	}
	for i := 0; i < 30; i++ {
		z.observe(time.Millisecond)
	}
	if z.size != 1000 {
		t.Fatalf("fast batches: size %d, want the maximum 1000", z.size)
	}
	for i := 0; i < 60; i++ {
		z.observe(time.Second)
	}
	if z.size != 10 {
		t.Fatalf("slow batches: size %d, want the minimum 10", z.size)
	}
}

// TestAdaptiveBatcherShrinksAndGrows: injected commit latency shrinks the batch size; once
// it is gone the size grows back; the size is visible in the metrics.
func TestAdaptiveBatcherShrinksAndGrows(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "a", WithDimension(2))
	var slow atomic.Bool
	setCommitHook(s, func(int) error {
		if slow.Load() {
			time.Sleep(250 * time.Millisecond)
		}
		return nil
	})
	b := sp.NewBatcher(BatcherOptions{MaxDelay: time.Millisecond, Adaptive: &Adaptive{Initial: 64, Min: 4, Max: 256, Window: 3}})
	defer b.Close()
	feed := func(until func() bool) {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					b.Remember(ctx, Memory{Embedding: unit(1, float32(i))})
				}
			}()
		}
		deadline := time.Now().Add(30 * time.Second)
		for !until() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
	}
	slow.Store(true)
	feed(func() bool { return b.Size() <= 16 })
	if b.Size() > 16 || sp.Stats().Queue.BatchSize != int64(b.Size()) {
		t.Fatalf("under 250 ms commits the size is %d (metrics %d), want ≤ 16", b.Size(), sp.Stats().Queue.BatchSize)
	}
	slow.Store(false)
	feed(func() bool { return b.Size() >= 128 })
	if b.Size() < 128 {
		t.Fatalf("fast again, the size is %d, want it grown back", b.Size())
	}
	setCommitHook(s, nil)
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: timed out", what)
	}
}
