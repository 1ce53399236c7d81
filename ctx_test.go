package engram

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// TestCtxEndingIsCanceledNotStorage: every call that takes a ctx and writes reports a ctx
// that ended — before the call, or inside its transaction, before the commit — as
// CANCELED or DEADLINE_EXCEEDED (retryable, wrapping the ctx's error), never as STORAGE,
// and leaves no trace. Space.Snapshot reported retryable STORAGE ("context canceled").
func TestCtxEndingIsCanceledNotStorage(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	type env struct {
		s  *Store
		sp *Space // a graph space with an unsaved graph
	}
	ops := []struct {
		name    string
		run     func(ctx context.Context, e env) error
		noTrace func(t *testing.T, e env)
	}{
		{"Snapshot", func(ctx context.Context, e env) error { return e.sp.Snapshot(ctx) }, func(t *testing.T, e env) {
			if e.sp.snapChanges == e.sp.idx.(interface{ Changes() uint64 }).Changes() {
				t.Fatal("the snapshot counts as saved")
			}
		}},
		{"Space (create)", func(ctx context.Context, e env) error { _, err := e.s.Space(ctx, "new"); return err }, func(t *testing.T, e env) {
			if _, err := e.s.LookupSpace("new"); err == nil {
				t.Fatal("the space was created")
			}
		}},
		{"DropSpace", func(ctx context.Context, e env) error { return e.s.DropSpace(ctx, "g") }, func(t *testing.T, e env) {
			if _, err := e.sp.Get(context.Background(), "g-a0"); err != nil {
				t.Fatalf("the space is gone: %v", err)
			}
		}},
		{"BatchRemember", func(ctx context.Context, e env) error {
			_, err := e.sp.BatchRemember(ctx, []Memory{{ID: "x", Embedding: randUnit(r, 8)}})
			return err
		}, func(t *testing.T, e env) {
			if _, err := e.sp.Get(context.Background(), "x"); CodeOf(err) != CodeNotFound {
				t.Fatalf("the memory was stored: %v", err)
			}
		}},
		{"Forget", func(ctx context.Context, e env) error { _, err := e.sp.Forget(ctx, "g-a0"); return err }, func(t *testing.T, e env) {
			if _, err := e.sp.Get(context.Background(), "g-a0"); err != nil {
				t.Fatalf("the memory was forgotten: %v", err)
			}
		}},
		{"SetCheckpoint", func(ctx context.Context, e env) error { return e.sp.SetCheckpoint(ctx, "c", []byte("v")) }, func(t *testing.T, e env) {
			if v, _ := e.sp.Checkpoint(context.Background(), "c"); v != nil {
				t.Fatal("the checkpoint was written")
			}
		}},
	}
	setup := func(t *testing.T) env {
		s := openTemp(t)
		sp := mustSpace(t, s, "g", WithIndex(IndexHNSW))
		mustStore(t, sp, synthetic(r, 200, 8, "g-"))
		return env{s, sp}
	}
	for _, op := range ops {
		t.Run(op.name+"/canceled before", func(t *testing.T) {
			e := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := op.run(ctx, e)
			if CodeOf(err) != CodeCanceled || !IsRetryable(err) || !errors.Is(err, context.Canceled) {
				t.Fatalf("%v, want CANCELED wrapping context.Canceled", err)
			}
			op.noTrace(t, e)
		})
		t.Run(op.name+"/deadline passed", func(t *testing.T) {
			e := setup(t)
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			if err := op.run(ctx, e); CodeOf(err) != CodeDeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v, want DEADLINE_EXCEEDED", err)
			}
			op.noTrace(t, e)
		})
		t.Run(op.name+"/canceled inside the transaction", func(t *testing.T) {
			e := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			setCommitHook(e.s, func(int) error { cancel(); return nil })
			err := op.run(ctx, e)
			setCommitHook(e.s, nil)
			if CodeOf(err) != CodeCanceled || !errors.Is(err, context.Canceled) {
				t.Fatalf("%v, want CANCELED", err)
			}
			op.noTrace(t, e)
		})
	}
}
