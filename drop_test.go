package engram

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSpaceDuringDropWaits: Space() (and LookupSpace) of a name whose DropSpace is under
// way used to hand out the dying *Space, whose calls then failed with a non-retryable
// SPACE_NOT_FOUND although a Space() call moments later worked. Now they wait for the
// drop to end: Space returns a new, working space; LookupSpace says SPACE_NOT_FOUND; a
// Space whose ctx ends while it waits returns CANCELED (retryable).
func TestSpaceDuringDropWaits(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	old := mustSpace(t, s, "d", WithDimension(2))
	mustStore(t, old, []Memory{{ID: "a", Embedding: unit(1, 0)}})

	// Hold the drop in its drain: a write in flight on the space, stopped in its commit.
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // a failing test must not leave Close waiting for the held write
	var inCommit atomic.Bool
	setCommitHook(s, func(int) error {
		if inCommit.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	})
	writeDone := make(chan error, 1)
	go func() { _, err := old.Remember(ctx, Memory{ID: "b", Embedding: unit(0, 1)}); writeDone <- err }()
	for !inCommit.Load() {
		time.Sleep(time.Millisecond)
	}
	dropDone := make(chan error, 1)
	go func() { dropDone <- s.DropSpace(ctx, "d") }()
	for !old.dropping.Load() {
		time.Sleep(time.Millisecond)
	}

	type got struct {
		sp  *Space
		err error
	}
	spaceDone := make(chan got, 1)
	go func() { sp, err := s.Space(ctx, "d", WithDimension(2)); spaceDone <- got{sp, err} }()
	lookupDone := make(chan got, 1)
	go func() { sp, err := s.LookupSpace("d"); lookupDone <- got{sp, err} }()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Space(short, "d"); !errors.Is(err, ErrDeadlineExceeded) || !IsRetryable(err) {
		t.Fatalf("Space whose ctx ends during the drop = %v, want retryable DEADLINE_EXCEEDED", err)
	}
	select {
	case g := <-spaceDone:
		t.Fatalf("Space returned during the drop: the dying space? same=%v err=%v", g.sp == old, g.err)
	case g := <-lookupDone:
		t.Fatalf("LookupSpace returned during the drop: same=%v err=%v", g.sp == old, g.err)
	default:
	}

	unblock()
	if err := <-writeDone; err != nil {
		t.Fatalf("the write in flight: %v", err)
	}
	if err := <-dropDone; err != nil {
		t.Fatal(err)
	}
	g := <-spaceDone
	if g.err != nil || g.sp == old {
		t.Fatalf("Space after the drop: same=%v %v", g.sp == old, g.err)
	}
	if _, err := g.sp.Remember(ctx, Memory{ID: "c", Embedding: unit(1, 1)}); err != nil {
		t.Fatalf("the new space: %v", err)
	}
	if _, err := g.sp.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the new space holds the dropped one's memory: %v", err)
	}
	if l := <-lookupDone; l.sp == old || (l.err != nil && !errors.Is(l.err, ErrSpaceNotFound)) {
		t.Fatalf("LookupSpace during the drop: same=%v %v", l.sp == old, l.err)
	}
}
