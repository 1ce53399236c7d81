package engram_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engram-go/engram"
)

func ExampleStore_Check() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0, 1}}})
	notes.Archive(ctx, []engram.Memory{{Embedding: []float32{1, 1}}})
	s.Space(ctx, "empty")

	rep, err := s.Check(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ok:", rep.OK, "file problems:", len(rep.Problems))
	// The spaces come in no particular order.
	slices.SortFunc(rep.Spaces, func(a, b engram.SpaceCheck) int { return strings.Compare(a.Name, b.Name) })
	for _, sc := range rep.Spaces {
		fmt.Printf("%s: records %d, ids %d, tiers %v, index %d, problems %d\n",
			sc.Name, sc.Records, sc.IDs, sc.Tiers, sc.IndexLen, sc.ProblemCount)
	}
	// Output:
	// ok: true file problems: 0
	// empty: records 0, ids 0, tiers [0 0 0], index 0, problems 0
	// notes: records 3, ids 3, tiers [2 0 1], index 2, problems 0
}

func ExampleSpace_Check() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	sp.BatchRemember(ctx, []engram.Memory{{ID: "a", Embedding: []float32{1, 0}}, {ID: "b", Embedding: []float32{0, 1}}})

	sc, err := sp.Check(ctx)
	fmt.Println(sc.Name, sc.Records, sc.IDs, sc.IndexLen, sc.ProblemCount, sc.Problems, err)
	// Output: notes 2 2 2 0 [] <nil>
}

func ExampleStore_LookupSpace() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	s.Space(ctx, "notes")

	// Unlike Store.Space, LookupSpace never creates a space.
	sp, err := s.LookupSpace("notes")
	fmt.Println(sp.Name(), err)
	_, err = s.LookupSpace("todo")
	fmt.Println(engram.CodeOf(err), errors.Is(err, engram.ErrSpaceNotFound))
	_, err = s.LookupSpace("No Such Name")
	fmt.Println(engram.CodeOf(err))
	// Output:
	// notes <nil>
	// SPACE_NOT_FOUND true
	// INVALID_SPACE_NAME
}

func ExampleStore_Spaces() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	for _, name := range []string{"work", "home", "archive-2024"} {
		if _, err := s.Space(ctx, name); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(s.Spaces()) // sorted
	// Output: [archive-2024 home work]
}

func ExampleStore_Close() {
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "memories.db")
	ctx := context.Background()

	s, err := engram.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	notes, _ := s.Space(ctx, "notes")
	notes.Remember(ctx, engram.Memory{ID: "a", Content: "kept", Embedding: []float32{1, 0}})
	fmt.Println(s.Close())

	// After Close every call fails with CLOSED; closing again is harmless.
	_, err = notes.Get(ctx, "a")
	fmt.Println(engram.CodeOf(err), s.Close())

	// The file is released: it can be opened again, with its memories.
	s, err = engram.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	notes, _ = s.LookupSpace("notes")
	m, err := notes.Get(ctx, "a")
	fmt.Println(m.Content, err)
	// Output:
	// <nil>
	// CLOSED <nil>
	// kept <nil>
}

func ExampleStore_NewID() {
	s, done := tempStore()
	defer done()
	a, b := s.NewID(), s.NewID()
	// Generated IDs are 26 characters and sort in the order they were handed out.
	fmt.Println(len(a), len(b), a < b)

	// An ID made in advance can name a memory before it is written.
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	id, _ := sp.Remember(ctx, engram.Memory{ID: b, Embedding: []float32{1}})
	fmt.Println(id == b)
	// Output:
	// 26 26 true
	// true
}

func ExampleSpace_Len() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	fmt.Println(sp.Len())
	sp.BatchRemember(ctx, []engram.Memory{{ID: "a", Embedding: []float32{1, 0}}, {ID: "b", Embedding: []float32{0, 1}}})
	sp.Archive(ctx, []engram.Memory{{ID: "c", Embedding: []float32{1, 1}}})
	sp.Remember(ctx, engram.Memory{ID: "a", Embedding: []float32{1, 0.5}}) // replaces a
	// Len counts every tier: two hot memories and one cold.
	fmt.Println(sp.Len(), sp.Stats().Tiers)
	// Output:
	// 0
	// 3 [2 0 1]
}

func ExampleSpace_LatencyHistogram() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	sp.Remember(ctx, engram.Memory{Embedding: []float32{1, 0}})
	for i := 0; i < 3; i++ {
		sp.Recall(ctx, engram.Query{Embedding: []float32{1, 0}, K: 1})
	}
	// Nanoseconds per call, in cumulative buckets: the last one holds every call.
	h := sp.LatencyHistogram(engram.OpRecall)
	last := h.Buckets[len(h.Buckets)-1]
	fmt.Println(h.Count, last.Count == h.Count, h.Sum > 0)
	// Output: 3 true true
}

func ExampleSpace_BatchSizeHistogram() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	sp.Remember(ctx, engram.Memory{Embedding: []float32{1, 0}})
	sp.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0, 1}}, {Embedding: []float32{1, 1}}})
	sp.BatchRemember(ctx, []engram.Memory{{Embedding: []float32{1, 2}}, {Embedding: []float32{2, 1}}, {Embedding: []float32{2, 2}}})

	h := sp.BatchSizeHistogram(engram.OpRemember)
	fmt.Println("calls", h.Count, "items", h.Sum)
	for _, b := range h.Buckets { // cumulative: calls with at most UpperBound items
		fmt.Printf("<= %d: %d\n", b.UpperBound, b.Count)
	}
	// Output:
	// calls 3 items 7
	// <= 1: 1
	// <= 3: 3
}

func ExampleWithNoSync() {
	s, done := tempStore(engram.WithNoSync())
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "import")
	res, _ := sp.RememberAll(ctx, []engram.Memory{{Embedding: []float32{1, 0}}, {Embedding: []float32{0, 1}}}, 0, 0)
	// Writes skipped the fsync; Sync (or Close) makes them durable.
	fmt.Println(res.Stored, s.Stats().NoSync, s.Sync())
	// Output: 2 true <nil>
}

func ExampleWithReadOnly() {
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "memories.db")
	ctx := context.Background()

	w, err := engram.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	notes, _ := w.Space(ctx, "notes")
	notes.Remember(ctx, engram.Memory{ID: "a", Content: "hello", Embedding: []float32{1, 0}})
	w.Close() // a reader cannot open the file while a writer holds it

	r, err := engram.Open(path, engram.WithReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	notes, _ = r.LookupSpace("notes")
	m, err := notes.Get(ctx, "a")
	fmt.Println(m.Content, err, r.Stats().ReadOnly)

	_, err = notes.Remember(ctx, engram.Memory{Embedding: []float32{0, 1}})
	fmt.Println(engram.CodeOf(err), errors.Is(err, engram.ErrReadOnly))
	_, err = r.Space(ctx, "new")
	fmt.Println(engram.CodeOf(err))
	// Output:
	// hello <nil> true
	// READ_ONLY true
	// READ_ONLY
}

func ExampleWithLimits() {
	l := engram.DefaultLimits
	l.MaxContentBytes = 16
	l.MaxK = 5
	s, done := tempStore(engram.WithLimits(l))
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")

	_, err := sp.Remember(ctx, engram.Memory{Content: "a little too long", Embedding: []float32{1}})
	fmt.Println(engram.CodeOf(err))
	_, err = sp.Recall(ctx, engram.Query{Embedding: []float32{1}, K: 6})
	fmt.Println(engram.CodeOf(err), s.Limits().MaxK)

	// Every limit must be positive.
	_, err = engram.Open(filepath.Join(os.TempDir(), "never-created.db"), engram.WithLimits(engram.Limits{}))
	fmt.Println(engram.CodeOf(err))
	// Output:
	// CONTENT_TOO_LARGE
	// INVALID_QUERY 5
	// INVALID_OPTION
}

func ExampleWithLockTimeout() {
	s, done := tempStore()
	defer done()

	// Wait at most 200 ms for the lock the first store holds, then give up.
	_, err := engram.Open(s.Path(), engram.WithLockTimeout(200*time.Millisecond))
	fmt.Println(engram.CodeOf(err), engram.IsRetryable(err))
	// Output: LOCKED true
}

func ExampleWithLogger() {
	// A text logger without the attributes that change from run to run.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "store", "elapsed":
				return slog.Attr{}
			}
			return a
		},
	}))
	s, done := tempStore(engram.WithLogger(logger))
	defer done()
	s.Space(context.Background(), "notes", engram.WithDimension(4))
	// Output:
	// level=INFO msg="engram store opened" spaces=0 read_only=false no_sync=false
	// level=INFO msg="space created" space=notes dim=4
}

func ExampleIsRetryable() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")

	// Properties of the input: repeating the call cannot help.
	_, badInput := sp.Recall(ctx, engram.Query{Embedding: []float32{1}, K: 0})
	// Transient conditions: the same call may succeed later.
	_, locked := engram.Open(s.Path(), engram.WithLockTimeout(0))
	canceledCtx, cancel := context.WithCancel(ctx)
	cancel()
	_, canceled := sp.Remember(canceledCtx, engram.Memory{Embedding: []float32{1}})

	for _, err := range []error{badInput, locked, canceled, errors.New("not from engram"), nil} {
		fmt.Println(engram.CodeOf(err), engram.IsRetryable(err))
	}
	// Output:
	// INVALID_QUERY false
	// LOCKED true
	// CANCELED true
	// UNKNOWN false
	// UNKNOWN false
}

func ExampleConfidence() {
	// Confidence is a pointer so that "unset" (nil: DefaultConfidence) and 0 differ.
	mems := []engram.Memory{
		{ID: "unset", Embedding: []float32{1, 0}},
		{ID: "zero", Embedding: []float32{0, 1}, Confidence: engram.Confidence(0)},
		{ID: "some", Embedding: []float32{1, 1}, Confidence: engram.Confidence(0.25)},
	}
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes")
	sp.BatchRemember(ctx, mems)
	for _, id := range []string{"unset", "zero", "some"} {
		m, _ := sp.Get(ctx, id)
		fmt.Println(id, *m.Confidence) // read back, it is always set
	}
	// Output:
	// unset 1
	// zero 0
	// some 0.25
}

func ExampleMemory_Conf() {
	var m engram.Memory
	fmt.Println(m.Confidence == nil, m.Conf()) // unset: the default
	m.Confidence = engram.Confidence(0.7)
	fmt.Println(m.Conf())
	// Output:
	// true 1
	// 0.7
}

func ExampleBackpressureState() {
	for _, depth := range []int64{0, 49, 50, 79, 80, 99, 100} {
		fmt.Println(depth, engram.BackpressureState(depth, 100))
	}
	// Output:
	// 0 normal
	// 49 normal
	// 50 warning
	// 79 warning
	// 80 critical
	// 99 critical
	// 100 overloaded
}

func ExampleBatchResult_Err() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "notes", engram.WithDimension(2))
	res, _ := sp.BatchRemember(ctx, []engram.Memory{
		{ID: "a", Embedding: []float32{1, 0}},
		{ID: "b", Embedding: []float32{1, 0, 0}},
		{ID: "c", Embedding: []float32{0, 1}, Confidence: engram.Confidence(-1)},
	})
	// Err joins the failed items' errors, one per line.
	fmt.Println(res.Err())
	// Output:
	// engram: DIMENSION_MISMATCH: remember space=notes item=1 id="b": embedding has 3 dimensions, the space 2
	// engram: INVALID_CONFIDENCE: remember space=notes item=2 id="c": confidence -1 is outside [0,1]
}

func ExampleBatchResult_Retryable() {
	s, done := tempStore()
	defer done()
	sp, _ := s.Space(context.Background(), "notes")
	mems := []engram.Memory{
		{ID: "a", Embedding: []float32{1, 0}},
		{ID: "b", Embedding: []float32{0, 1}},
		{ID: "c", Embedding: []float32{1, 1}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the whole batch fails with CANCELED, a retryable code
	res, err := sp.BatchRemember(ctx, mems)
	fmt.Println(engram.CodeOf(err), res.Retryable())

	var again []engram.Memory
	for _, i := range res.Retryable() {
		again = append(again, mems[i])
	}
	res, err = sp.BatchRemember(context.Background(), again)
	fmt.Println(res.Stored, err)
	// Output:
	// CANCELED [0 1 2]
	// 3 <nil>
}

func ExampleCode_Retryable() {
	// The codes worth retrying unchanged: the others are properties of the input or state.
	for c := engram.CodeUnknown; c <= engram.CodeInvalidText; c++ {
		if c.Retryable() {
			fmt.Println(c)
		}
	}
	// Output:
	// STORAGE
	// CANCELED
	// DEADLINE_EXCEEDED
	// BACKPRESSURE
	// LOCKED
}

func ExampleBatcher_Flush() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	sp, _ := s.Space(ctx, "chat")
	// Batches that would wait up to an hour for 1000 memories ...
	b := sp.NewBatcher(engram.BatcherOptions{MaxItems: 1000, MaxDelay: time.Hour})
	defer b.Close()

	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Remember(ctx, engram.Memory{Embedding: []float32{1, float32(i)}}) // waits for its commit
		}()
	}
	for b.Len() < 3 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("queued:", b.Len(), "stored:", sp.Len())
	// ... are committed now.
	if err := b.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	wg.Wait()
	fmt.Println("queued:", b.Len(), "stored:", sp.Len())
	// Output:
	// queued: 3 stored: 0
	// queued: 0 stored: 3
}

// An import records how far it got beside the memories it stored, so a rerun resumes
// after the last committed batch.
func ExampleSpace_SetCheckpoint() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	store, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sp, _ := store.Space(ctx, "rows", engram.WithDimension(2))

	rows := []struct {
		key  int
		text string
	}{{1, "first"}, {2, "second"}, {3, "third"}}
	last, _ := sp.Checkpoint(ctx, "import") // nil on the first run
	for _, r := range rows {
		if last != nil && r.key <= int(last[0]) {
			continue
		}
		if _, err := sp.Remember(ctx, engram.Memory{ID: fmt.Sprint(r.key), Content: r.text, Embedding: []float32{1, float32(r.key)}}); err != nil {
			log.Fatal(err)
		}
		if err := sp.SetCheckpoint(ctx, "import", []byte{byte(r.key)}); err != nil {
			log.Fatal(err)
		}
	}
	v, _ := sp.Checkpoint(ctx, "import")
	fmt.Println(sp.Len(), v[0])
	// Output: 3 3
}

// Restore writes memories back as they were read — tier and access statistics included —
// so copying a space keeps archived memories archived.
func ExampleSpace_Restore() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	store, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	src, _ := store.Space(ctx, "src")
	src.BatchRemember(ctx, []engram.Memory{{ID: "now", Embedding: []float32{1, 0}}})
	src.Archive(ctx, []engram.Memory{{ID: "then", Embedding: []float32{0, 1}}})

	var all []engram.Memory
	for m, err := range src.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		all = append(all, m)
	}
	dst, _ := store.Space(ctx, "dst")
	if _, err := dst.Restore(ctx, all); err != nil {
		log.Fatal(err)
	}
	then, _ := dst.Get(ctx, "then")
	fmt.Println(dst.Len(), then.Tier)
	// Output: 2 cold
}

// Checkpoint reads a named value kept beside the space's memories (nil when it was never
// set), e.g. how far an import got.
func ExampleSpace_Checkpoint() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "engram-example")
	defer os.RemoveAll(dir)
	store, err := engram.Open(filepath.Join(dir, "memories.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sp, _ := store.Space(ctx, "rows", engram.WithDimension(2))
	v, _ := sp.Checkpoint(ctx, "sync")
	fmt.Println(v == nil)
	sp.SetCheckpoint(ctx, "sync", []byte("2026-12-01T18:00:00Z"))
	v, _ = sp.Checkpoint(ctx, "sync")
	fmt.Println(string(v))
	// Output:
	// true
	// 2026-12-01T18:00:00Z
}
