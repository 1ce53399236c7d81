package engram

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/hash"
)

// fakeEmbedder embeds text deterministically (hash embedder) and can be told to fail:
// texts containing "reject" fail alone (TextErrors), "ratelimit" fails the call with a
// retryable 429, "wrongdim" answers a short vector, "nan" a NaN one. It counts calls and
// the most calls in flight at once.
type fakeEmbedder struct {
	inner          *hash.Embedder
	name           string
	calls, texts   atomic.Int64
	inFlight, most atomic.Int64
	delay          time.Duration
}

func newFake(t testing.TB, name string, dim int) *fakeEmbedder {
	h, err := hash.New(hash.WithDimension(dim))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeEmbedder{inner: h, name: name}
}

func (f *fakeEmbedder) Dimension() int { return f.inner.Dimension() }
func (f *fakeEmbedder) Name() string   { return f.name }

func (f *fakeEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.calls.Add(1)
	f.texts.Add(int64(len(texts)))
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, t := range texts {
		if strings.Contains(t, "ratelimit") {
			return nil, &embed.Error{Embedder: "fake", Status: 429, Retryable: true, RetryAfter: 2 * time.Second, Msg: "slow down"}
		}
	}
	vecs, err := f.inner.Embed(ctx, texts)
	if err != nil {
		return vecs, err
	}
	te := embed.TextErrors{}
	for i, t := range texts {
		switch {
		case strings.Contains(t, "reject"):
			te[i] = &embed.Error{Embedder: "fake", Status: 400, Msg: "input rejected"}
			vecs[i] = nil
		case strings.Contains(t, "wrongdim"):
			vecs[i] = vecs[i][:3]
		case strings.Contains(t, "nan"):
			vecs[i][0] = float32(math.NaN())
		}
	}
	if len(te) > 0 {
		return vecs, te
	}
	return vecs, nil
}

// TestEmbedderStoresAndRecallsText: text-only memories are embedded inside BatchRemember,
// each failing item fails alone with its code (EMBEDDING_FAILED, retryable only when the
// embedder said so), memories with their own embedding skip the embedder, and Query.Text
// recalls by text.
func TestEmbedderStoresAndRecallsText(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	f := newFake(t, "fake:v1;dim=64", 64)
	sp := mustSpace(t, s, "notes", WithEmbedder(f), WithEmbedChunk(2))
	if sp.Dim() != 64 {
		t.Fatalf("dim %d: the embedder's dimension should fix the space's", sp.Dim())
	}
	own := make([]float32, 64)
	own[5] = 1
	res, err := sp.BatchRemember(ctx, []Memory{
		{ID: "tea", Content: "Ada prefers green tea in the afternoon"},
		{ID: "cat", Content: "Ada's cat is called Turing"},
		{ID: "bad", Content: "please reject this text"},
		{ID: "own", Content: "brings its own vector", Embedding: own},
		{ID: "empty"},
		{ID: "dim", Content: "wrongdim answer"},
		{ID: "nan", Content: "nan answer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantCode := []Code{CodeUnknown, CodeUnknown, CodeEmbeddingFailed, CodeUnknown, CodeInvalidEmbedding, CodeEmbeddingFailed, CodeEmbeddingFailed}
	for i, it := range res.Items {
		if CodeOf(it.Err) != wantCode[i] {
			t.Errorf("item %d: %v, want %v", i, it.Err, wantCode[i])
		}
		if it.Err != nil && IsRetryable(it.Err) {
			t.Errorf("item %d: %v is retryable", i, it.Err)
		}
	}
	if res.Stored != 3 || f.texts.Load() != 5 {
		t.Fatalf("stored %d, texts embedded %d (own vector and empty content must skip the embedder)", res.Stored, f.texts.Load())
	}
	hits, err := sp.Recall(ctx, Query{Text: "what does Ada drink in the afternoon", K: 1})
	if err != nil || len(hits) != 1 || hits[0].Memory.ID != "tea" {
		t.Fatalf("text recall: %v %v", hits, err)
	}
	if m, _ := sp.Get(ctx, "own"); m.Embedding[5] != 1 {
		t.Fatalf("own vector replaced: %v", m.Embedding[:8])
	}
	// A retryable failure of the call fails its chunk, retryably, and nothing else.
	res, err = sp.BatchRemember(ctx, []Memory{{ID: "x", Content: "ratelimit me"}, {ID: "y", Content: "fine"}, {ID: "z", Content: "fine too"}})
	if err != nil || res.Stored != 1 {
		t.Fatalf("stored %d: %v %v", res.Stored, err, res.Err())
	}
	var e *Error
	if !errors.As(res.Items[0].Err, &e) || e.Code != CodeEmbeddingFailed || !e.Retryable() || e.RetryAfter != 2*time.Second || e.Item != 0 || e.ID != "x" {
		t.Fatalf("rate-limited item: %#v", res.Items[0].Err)
	}
	if !IsRetryable(res.Items[1].Err) || res.Items[2].Err != nil {
		t.Fatalf("chunk mates: %v / %v", res.Items[1].Err, res.Items[2].Err)
	}
	st := sp.Stats()
	var embedOps OpStats
	for _, o := range st.Ops {
		if o.Op == "embed" {
			embedOps = o
		}
	}
	if embedOps.Calls == 0 || embedOps.Items == 0 || embedOps.FailuresByCode["EMBEDDING_FAILED"] == 0 || st.Embedder != "fake:v1;dim=64" || !st.EmbedderAttached {
		t.Fatalf("stats: %+v embedder %q", embedOps, st.Embedder)
	}
	mustCheck(t, s)
}

// TestEmbedderChunksInParallel: a batch's texts go out in chunks of WithEmbedChunk, at
// most WithEmbedParallelism at once; a canceled ctx fails the batch with CANCELED.
func TestEmbedderChunksInParallel(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	f := newFake(t, "", 32)
	f.delay = 5 * time.Millisecond
	sp := mustSpace(t, s, "c", WithEmbedder(f), WithEmbedChunk(10), WithEmbedParallelism(3))
	mems := make([]Memory, 100)
	for i := range mems {
		mems[i] = Memory{Content: fmt.Sprintf("text number %d about topic %d", i, i%7)}
	}
	if res, err := sp.BatchRemember(ctx, mems); err != nil || res.Stored != 100 {
		t.Fatal(err, res.Err())
	}
	if f.calls.Load() != 10 || f.most.Load() > 3 || f.most.Load() < 2 {
		t.Fatalf("%d calls, at most %d in flight; want 10 calls, 2-3 in flight", f.calls.Load(), f.most.Load())
	}
	canceled, cancel := context.WithCancel(ctx)
	f.delay = time.Second
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	res, err := sp.BatchRemember(canceled, mems[:5])
	if !errors.Is(err, ErrCanceled) && !errors.Is(res.Items[0].Err, ErrCanceled) {
		t.Fatalf("canceled during embedding: %v %v", err, res.Err())
	}
}

// TestEmbedderNameRecorded: a space remembers which embedder made its vectors and refuses
// another on reopen; the dimension must agree; an unnamed embedder is not checked.
func TestEmbedderNameRecorded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "e.db")
	s := openHooked(t, path)
	mustSpace(t, s, "n", WithEmbedder(newFake(t, "model-a", 16)))
	s.Close()
	s = openHooked(t, path)
	if sp, _ := s.LookupSpace("n"); sp.Stats().Embedder != "model-a" || sp.Stats().EmbedderAttached {
		t.Fatalf("after reopen: %+v", sp.Stats())
	}
	if _, err := s.Space(ctx, "n", WithEmbedder(newFake(t, "model-b", 16))); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("another embedder: %v, want INVALID_OPTION", err)
	}
	if _, err := s.Space(ctx, "n", WithEmbedder(newFake(t, "model-a", 32))); !errors.Is(err, ErrDimensionMismatch) {
		t.Fatalf("another dimension: %v, want DIMENSION_MISMATCH", err)
	}
	sp, err := s.Space(ctx, "n", WithEmbedder(newFake(t, "model-a", 16)))
	if err != nil || !sp.Stats().EmbedderAttached {
		t.Fatalf("same embedder: %v", err)
	}
	if _, err := s.Space(ctx, "n", WithEmbedder(newFake(t, "", 16))); err != nil {
		t.Fatalf("unnamed embedder: %v", err)
	}
	// A space created without one records the first named embedder attached.
	plain := mustSpace(t, s, "plain", WithDimension(16))
	if _, err := s.Space(ctx, "plain", WithEmbedder(newFake(t, "model-c", 16))); err != nil || plain.Stats().Embedder != "model-c" {
		t.Fatalf("late attach: %v %q", err, plain.Stats().Embedder)
	}
}

// TestQueryText: Text and Embedding together, or Text without an embedder, are
// INVALID_QUERY; repeated texts come from the cache; BatchRecall embeds its texts in one
// call and keeps a failed text's error to its own query.
func TestQueryText(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	f := newFake(t, "q", 32)
	sp := mustSpace(t, s, "q", WithEmbedder(f))
	mustStore(t, sp, []Memory{{ID: "a", Content: "apples are red"}, {ID: "b", Content: "the sky is blue"}})
	if _, err := sp.Recall(ctx, Query{Text: "x", Embedding: make([]float32, 32), K: 1}); !errors.Is(err, ErrInvalidQuery) {
		t.Fatalf("both cues: %v", err)
	}
	plain := mustSpace(t, s, "plain", WithDimension(32))
	if _, err := plain.Recall(ctx, Query{Text: "x", K: 1}); !errors.Is(err, ErrInvalidQuery) {
		t.Fatalf("no embedder: %v", err)
	}
	before := f.calls.Load()
	for range 3 {
		if hits, err := sp.Recall(ctx, Query{Text: "blue sky", K: 1}); err != nil || hits[0].Memory.ID != "b" {
			t.Fatalf("recall: %v %v", hits, err)
		}
	}
	if got := f.calls.Load() - before; got != 1 {
		t.Fatalf("%d Embed calls for three recalls of one text, want 1 (cache)", got)
	}
	before = f.calls.Load()
	out, err := sp.BatchRecall(ctx, []Query{{Text: "red apples", K: 1}, {Text: "reject me", K: 1}, {Text: "sky color", K: 1}, {Embedding: make([]float32, 32), K: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || out[0].Hits[0].Memory.ID != "a" || !errors.Is(out[1].Err, ErrEmbeddingFailed) || out[2].Err != nil {
		t.Fatalf("batch: %+v", out)
	}
	if !errors.Is(out[3].Err, ErrInvalidEmbedding) {
		t.Fatalf("zero cue: %v", out[3].Err)
	}
	if got := f.calls.Load() - before; got != 1 {
		t.Fatalf("BatchRecall made %d Embed calls, want 1", got)
	}
}

// TestEmbedderEveryWayIn: streams, batchers, RememberAll, RememberMixed and Archive all
// embed text-only memories.
func TestEmbedderEveryWayIn(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "w", WithEmbedder(newFake(t, "w", 32)))
	text := func(p string, i int) Memory {
		return Memory{ID: fmt.Sprintf("%s%d", p, i), Content: fmt.Sprintf("%s memory number %d", p, i)}
	}
	var all []Memory
	for i := range 50 {
		all = append(all, text("all", i))
	}
	if res, err := sp.RememberAll(ctx, all, 7, 0); err != nil || res.Stored != 50 {
		t.Fatal(err, res.Err())
	}
	st := sp.NewStream(StreamOptions{QueueSize: 16, MaxItems: 8})
	var wg sync.WaitGroup
	wg.Go(func() {
		for a := range st.Acks() {
			if a.Err != nil {
				t.Error(a.Err)
			}
		}
	})
	for i := range 20 {
		if _, err := st.Send(ctx, text("stream", i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	wg.Wait()
	b := sp.NewBatcher(BatcherOptions{MaxItems: 4, MaxDelay: time.Millisecond})
	if _, err := b.Remember(ctx, text("batcher", 0)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if res, err := s.RememberMixed(ctx, []SpaceMemory{{Space: "w", Memory: text("mixed", 0)}}); err != nil || res.Stored != 1 {
		t.Fatal(err, res.Err())
	}
	if res, err := sp.Archive(ctx, []Memory{text("archive", 0)}); err != nil || res.Stored != 1 {
		t.Fatal(err, res.Err())
	}
	if sp.Len() != 73 {
		t.Fatalf("len %d, want 73", sp.Len())
	}
	mustCheck(t, s)
}

// TestBatcherEmbedsWhileCommitting: with an embedder, a Batcher embeds its next batch while
// the previous one commits (the two stages overlap), batches still commit in order, and
// Flush returns only once what it flushed is committed.
func TestBatcherEmbedsWhileCommitting(t *testing.T) {
	ctx := context.Background()
	s, sp, embeds, committing, release := heldCommitFixture(t)
	b := sp.NewBatcher(BatcherOptions{MaxItems: 2, MaxDelay: time.Hour})
	defer b.Close()
	type out struct {
		id  string
		err error
	}
	results := make(chan out, 4)
	send := func(texts ...string) {
		for _, text := range texts {
			go func() {
				id, err := b.Remember(ctx, Memory{ID: text, Content: text})
				results <- out{id, err}
			}()
		}
	}
	send("a1", "a2")
	if got := <-embeds; len(got) != 2 {
		t.Fatalf("first batch embedded as %v", got)
	}
	<-committing // the first batch's commit is held
	send("b1", "b2")
	select {
	case got := <-embeds: // embedded while the first batch is still committing
		if len(got) != 2 || got[0][0] != 'b' {
			t.Fatalf("second batch embedded as %v", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second batch was not embedded while the first was committing")
	}
	if sp.Len() != 0 {
		t.Fatalf("%d memories visible while the first commit is held", sp.Len())
	}
	close(release)
	for range 4 {
		if r := <-results; r.err != nil {
			t.Fatalf("%s: %v", r.id, r.err)
		}
	}
	if sp.Len() != 4 {
		t.Fatalf("%d memories stored, want 4", sp.Len())
	}
	// A Flush with a commit in flight returns after it.
	setCommitHook(s, func(int) error { time.Sleep(20 * time.Millisecond); return nil })
	send("c1")
	for b.Len() == 0 { // queued (MaxDelay is an hour: only the Flush sends it)
		time.Sleep(time.Millisecond)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if sp.Len() != 5 {
		t.Fatalf("Flush returned before its batch was committed: %d memories", sp.Len())
	}
	if r := <-results; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestStreamEmbedsWhileCommitting: with an embedder, a Stream embeds its next batch while
// the previous one commits, and acknowledges in submission order; Close waits for the
// commit in flight.
func TestStreamEmbedsWhileCommitting(t *testing.T) {
	ctx := context.Background()
	_, sp, embeds, committing, release := heldCommitFixture(t)
	st := sp.NewStream(StreamOptions{QueueSize: 8, MaxItems: 2, MaxDelay: time.Hour})
	for _, text := range []string{"a1", "a2"} {
		if _, err := st.Send(ctx, Memory{ID: text, Content: text}); err != nil {
			t.Fatal(err)
		}
	}
	if got := <-embeds; len(got) != 2 || got[0] != "a1" {
		t.Fatalf("first batch embedded as %v", got)
	}
	<-committing
	for _, text := range []string{"b1", "b2"} {
		if _, err := st.Send(ctx, Memory{ID: text, Content: text}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-embeds:
		if len(got) != 2 || got[0] != "b1" {
			t.Fatalf("second batch embedded as %v", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the second batch was not embedded while the first was committing")
	}
	if sp.Len() != 0 {
		t.Fatalf("%d memories visible while the first commit is held", sp.Len())
	}
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	close(release)
	var acked []string
	for a := range st.Acks() {
		if a.Err != nil {
			t.Fatalf("ack %d: %v", a.Seq, a.Err)
		}
		acked = append(acked, a.ID)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "a2", "b1", "b2"}; !slices.Equal(acked, want) || sp.Len() != 4 {
		t.Fatalf("acks %v (want %v), %d memories stored", acked, want, sp.Len())
	}
}

// heldCommitFixture is a space with an embedder that reports each Embed call's texts on
// embeds, in a store whose first write transaction is held — committing is closed when it
// starts — until release is closed: what the pipeline tests need to see a batch embedded
// while the one before it is still committing.
func heldCommitFixture(t *testing.T) (s *Store, sp *Space, embeds chan []string, committing, release chan struct{}) {
	s = openHooked(t, filepath.Join(t.TempDir(), "s.db"))
	embeds = make(chan []string, 8)
	hash := newFake(t, "fake:v1;dim=16", 16)
	em := EmbedderFunc(func(ctx context.Context, texts []string) ([][]float32, error) {
		embeds <- append([]string(nil), texts...)
		return hash.Embed(ctx, texts)
	})
	sp = mustSpace(t, s, "notes", WithEmbedder(em), WithDimension(16))
	committing, release = make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	setCommitHook(s, func(int) error {
		if held.CompareAndSwap(false, true) {
			close(committing)
			<-release
		}
		return nil
	})
	return s, sp, embeds, committing, release
}
