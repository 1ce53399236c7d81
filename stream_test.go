package engram

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
)

func TestStreamAcksInOrderAndCloseDrains(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "st", WithDimension(2))
	st := sp.NewStream(StreamOptions{QueueSize: 64, MaxItems: 16, MaxDelay: 5 * time.Millisecond})
	var acks []Ack
	var got sync.WaitGroup
	got.Add(1)
	go func() {
		defer got.Done()
		for a := range st.Acks() {
			acks = append(acks, a)
		}
	}()
	const n = 500
	for i := 0; i < n; i++ {
		m := Memory{ID: fmt.Sprintf("m%d", i), Embedding: unit(1, float32(i))}
		if i%50 == 7 {
			m.Embedding = unit(1, 2, 3) // rejected with its own code
		}
		seq, err := st.Send(ctx, m)
		if err != nil || seq != uint64(i) {
			t.Fatalf("Send %d: seq %d %v", i, seq, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	got.Wait()
	if len(acks) != n {
		t.Fatalf("%d acks for %d sends", len(acks), n)
	}
	for i, a := range acks {
		if a.Seq != uint64(i) {
			t.Fatalf("ack %d has seq %d: not in submission order", i, a.Seq)
		}
		if i%50 == 7 {
			if !errors.Is(a.Err, ErrDimensionMismatch) {
				t.Fatalf("ack %d: %v", i, a.Err)
			}
		} else if a.Err != nil || a.ID != fmt.Sprintf("m%d", i) {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	if sp.Len() != n-n/50 {
		t.Fatalf("stored %d", sp.Len())
	}
	if _, err := st.Send(ctx, Memory{Embedding: unit(1, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	st.Close() // twice is fine
}

// TestStreamBackpressure: a full queue blocks senders until ctx ends (Block) or refuses them
// with a retryable BACKPRESSURE and a retry hint (FailFast); an unread Acks channel stops the
// stream (consumer-side backpressure); nothing accepted is lost.
func TestStreamBackpressure(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "bp", WithDimension(2))
	release := make(chan struct{})
	var hold atomic.Bool
	hold.Store(true)
	setCommitHook(s, func(int) error {
		if hold.Load() {
			<-release
		}
		return nil
	})

	ff := sp.NewStream(StreamOptions{QueueSize: 8, MaxItems: 4, MaxDelay: time.Millisecond, Mode: FailFast, NoAcks: true})
	accepted := 0
	var bp *Error
	for i := 0; i < 100 && bp == nil; i++ {
		_, err := ff.Send(ctx, Memory{ID: fmt.Sprintf("ff%d", i), Embedding: unit(1, float32(i))})
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &bp) && bp.Code == CodeBackpressure:
		default:
			t.Fatalf("Send: %v", err)
		}
	}
	if bp == nil || !bp.Retryable() || bp.RetryAfter <= 0 {
		t.Fatalf("a full FailFast queue did not refuse with a retry hint: %+v", bp)
	}
	if q := sp.Stats().Queue; q.State != tier.Overloaded && q.State != tier.Critical || q.Rejected == 0 {
		t.Fatalf("queue stats while full: %+v", q)
	}

	blk := sp.NewStream(StreamOptions{QueueSize: 4, MaxItems: 4, MaxDelay: time.Millisecond, NoAcks: true})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var blockedErr error
	for i := 0; i < 100; i++ {
		if _, err := blk.Send(short, Memory{ID: fmt.Sprintf("blk%d", i), Embedding: unit(2, float32(i))}); err != nil {
			blockedErr = err
			break
		}
	}
	if !errors.Is(blockedErr, ErrDeadlineExceeded) {
		t.Fatalf("a full Block queue: %v, want DEADLINE_EXCEEDED after waiting", blockedErr)
	}
	hold.Store(false)
	close(release)
	ff.Close()
	blk.Close()
	for i := 0; i < accepted; i++ {
		if _, err := sp.Get(ctx, fmt.Sprintf("ff%d", i)); err != nil {
			t.Fatalf("accepted memory ff%d lost: %v", i, err)
		}
	}

	// Consumer side: nobody reads Acks; once acks fill their buffer the worker stops, the
	// queue fills, and FailFast refuses.
	slowReader := sp.NewStream(StreamOptions{QueueSize: 4, MaxItems: 2, MaxDelay: time.Millisecond, Mode: FailFast})
	refused := false
	for i := 0; i < 1000 && !refused; i++ {
		if _, err := slowReader.Send(ctx, Memory{Embedding: unit(3, float32(i))}); errors.Is(err, ErrBackpressure) {
			refused = true
		}
		time.Sleep(100 * time.Microsecond)
	}
	if !refused {
		t.Fatal("an unread Acks channel did not push back on producers")
	}
	var drained int
	done := make(chan struct{})
	go func() {
		for range slowReader.Acks() {
			drained++
		}
		close(done)
	}()
	slowReader.Close()
	<-done
	if drained == 0 {
		t.Fatal("no acks after draining")
	}
	setCommitHook(s, nil)
}
