package engram_test

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"sync"
	"time"

	"github.com/engram-go/engram"
)

func ExampleSpace_RememberAll() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "bulk")
	mems := make([]engram.Memory, 2500)
	for i := range mems {
		mems[i] = engram.Memory{Content: fmt.Sprint(i), Embedding: []float32{1, float32(i)}}
	}
	// Batches of 1000, two in flight; one result per memory, in input order.
	res, err := sp.RememberAll(ctx, mems, 1000, 2)
	fmt.Println(res.Stored, res.Failed, err)
	// Output: 2500 0 <nil>
}

func ExampleSpace_NewBatcher() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "chat")
	// Flush every 100 memories or 5 ms after the first, whichever comes first.
	b := sp.NewBatcher(engram.BatcherOptions{MaxItems: 100, MaxDelay: 5 * time.Millisecond})
	defer b.Close()

	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := engram.Memory{ID: fmt.Sprintf("msg-%d", i), Embedding: []float32{1, float32(i)}}
			if i == 2 {
				m.Embedding = nil // this caller alone gets an error
			}
			_, err := b.Remember(ctx, m) // returns once its batch is committed
			if err != nil {
				fmt.Println("msg-2:", engram.CodeOf(err))
			}
		}()
	}
	wg.Wait()
	fmt.Println(sp.Len())
	// Output:
	// msg-2: INVALID_EMBEDDING
	// 2
}

func ExampleSpace_NewStream() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "events")
	st := sp.NewStream(engram.StreamOptions{QueueSize: 1000, Mode: engram.FailFast})

	go func() {
		for i := 0; i < 5; i++ {
			_, err := st.Send(ctx, engram.Memory{Embedding: []float32{1, float32(i)}})
			var e *engram.Error
			if errors.As(err, &e) && e.Code == engram.CodeBackpressure {
				time.Sleep(e.RetryAfter) // a real producer would retry here
			}
		}
		st.Close() // commits everything accepted, then closes Acks
	}()
	n := 0
	for ack := range st.Acks() { // in submission order
		if ack.Err == nil {
			n++
		}
	}
	fmt.Println(n, "stored")
	// Output: 5 stored
}

func ExampleSpace_BatchUpdate() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "facts")
	sp.Remember(ctx, engram.Memory{ID: "sky", Embedding: []float32{1, 0}, Confidence: engram.Confidence(0.9)})

	res, _ := sp.BatchUpdate(ctx, []engram.Update{
		{ID: "sky", Patch: engram.Patch{Confidence: engram.Confidence(0.4), SetMetadata: map[string]string{"checked": "no"}}},
		{ID: "sea", Patch: engram.Patch{Confidence: engram.Confidence(0.5)}},
	})
	m, _ := sp.Get(ctx, "sky")
	fmt.Println(m.Conf(), m.Metadata["checked"], engram.CodeOf(res.Items[1].Err))
	// Output: 0.4 no NOT_FOUND
}

func ExampleSpace_UpdateWhere() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "facts")
	for i := 0; i < 10; i++ {
		sp.Remember(ctx, engram.Memory{Embedding: []float32{1, float32(i)}, Metadata: map[string]string{"source": []string{"web", "book"}[i%2]}})
	}
	// Lower the confidence of everything that came from the web.
	res, err := sp.UpdateWhere(ctx, 1000, func(m engram.Memory) (engram.Patch, bool) {
		if m.Metadata["source"] != "web" {
			return engram.Patch{}, false
		}
		c := m.Conf() * 0.5
		return engram.Patch{Confidence: &c}, true
	})
	fmt.Println(res.Stored, err)
	// Output: 5 <nil>
}

func ExampleStore_RememberMixed() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	s.Space(ctx, "alice")
	s.Space(ctx, "bob")
	res, _ := s.RememberMixed(ctx, []engram.SpaceMemory{
		{Space: "alice", Memory: engram.Memory{Embedding: []float32{1, 0}}},
		{Space: "bob", Memory: engram.Memory{Embedding: []float32{0, 1}}},
		{Space: "carol", Memory: engram.Memory{Embedding: []float32{1, 1}}},
	})
	fmt.Println(res.Stored, engram.CodeOf(res.Items[2].Err))
	// Output: 2 SPACE_NOT_FOUND
}

func ExampleSpace_Stats() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "m")
	sp.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0}}})
	st := sp.Stats()
	rem := st.Ops[engram.OpRemember]
	fmt.Println(rem.Op, rem.Calls, rem.Items, rem.Failed, rem.FailuresByCode, st.Queue.State)
	// Output: remember 1 2 1 map[DIMENSION_MISMATCH:1] normal
}

func ExampleStore_Expvar() {
	s, done := tempStore()
	defer done()
	// Publish the store's statistics under /debug/vars (expvar's handler); engram itself
	// registers nothing globally.
	expvar.Publish("engram-example", s.Expvar())
	fmt.Println(expvar.Get("engram-example") != nil)
	// Output: true
}

func ExampleSpace_Snapshot() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "graph", engram.WithIndex(engram.IndexHNSW))
	sp.Remember(ctx, engram.Memory{Embedding: []float32{1, 0, 0}})
	// Save the graph now, so that a crash before Close does not mean a rebuild at Open.
	fmt.Println(sp.Snapshot(ctx), sp.Stats().Index)
	// Output: <nil> hnsw
}
