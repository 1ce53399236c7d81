package engram

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engram-go/engram/internal/ids"
)

func TestErrorCodesAreStableAndRetryableAsDocumented(t *testing.T) {
	retryable := map[Code]bool{CodeStorage: true, CodeCanceled: true, CodeDeadlineExceeded: true, CodeBackpressure: true, CodeLocked: true}
	seen := map[string]bool{}
	for c := CodeUnknown; c < numCodes; c++ {
		name := c.String()
		if name == "" || strings.ToUpper(name) != name || seen[name] {
			t.Errorf("code %d has a bad or duplicate name %q", c, name)
		}
		seen[name] = true
		if c.Retryable() != retryable[c] {
			t.Errorf("%s.Retryable() = %v", c, c.Retryable())
		}
	}
	// Numbers are part of the contract: a reorder would change them.
	if CodeDimensionMismatch != 1 || CodeBackpressure != 14 || CodeInvalidTimestamp != 24 || CodeInvalidText != 25 {
		t.Fatal("error code numbers changed")
	}
	e := &Error{Code: CodeStorage, Op: OpRemember, Space: "s", Item: 3, ID: "x", Msg: "boom", Err: context.Canceled}
	if !errors.Is(e, ErrStorage) || errors.Is(e, ErrClosed) || !errors.Is(e, context.Canceled) || !e.Retryable() {
		t.Fatal("errors.Is / Retryable do not match codes")
	}
	if got := e.Error(); !strings.Contains(got, "STORAGE") || !strings.Contains(got, "item=3") || !strings.Contains(got, "space=s") {
		t.Fatalf("error string %q lacks the code name or context", got)
	}
	var as *Error
	if !errors.As(error(e), &as) || CodeOf(e) != CodeStorage || CodeOf(errors.New("x")) != CodeUnknown {
		t.Fatal("errors.As / CodeOf")
	}
	if Code(999).String() != "CODE_999" {
		t.Fatal("unknown code name")
	}
}

// TestBatchItemCodes: each kind of bad item gets its code, and its valid siblings in the
// same batch are stored.
func TestBatchItemCodes(t *testing.T) {
	ctx := context.Background()
	lim := DefaultLimits
	lim.MaxContentBytes = 100
	lim.MaxMetadataBytes = 50
	lim.MaxMetadataItems = 4
	lim.MaxIDBytes = 30
	s := openTemp(t, WithLimits(lim))
	sp := mustSpace(t, s, "items", WithDimension(3))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	good := func(id string) Memory { return Memory{ID: id, Content: "ok", Embedding: unit(1, 2, 3)} }
	cases := []struct {
		name string
		m    Memory
		code Code // 0: stored
	}{
		{"valid", good("v1"), 0},
		{"wrong dimension", Memory{Embedding: unit(1, 2)}, CodeDimensionMismatch},
		{"empty embedding", Memory{}, CodeInvalidEmbedding},
		{"nan", Memory{Embedding: unit(1, nan, 0)}, CodeInvalidEmbedding},
		{"inf", Memory{Embedding: unit(inf, 0, 0)}, CodeInvalidEmbedding},
		{"zero norm", Memory{Embedding: unit(0, 0, 0)}, CodeInvalidEmbedding},
		{"confidence < 0", Memory{Embedding: unit(1, 0, 0), Confidence: Confidence(-0.1)}, CodeInvalidConfidence},
		{"confidence > 1", Memory{Embedding: unit(1, 0, 0), Confidence: Confidence(1.5)}, CodeInvalidConfidence},
		{"confidence nan", Memory{Embedding: unit(1, 0, 0), Confidence: Confidence(nan)}, CodeInvalidConfidence},
		{"confidence 0 is valid", Memory{ID: "zero-conf", Embedding: unit(1, 0, 0), Confidence: Confidence(0)}, 0},
		{"content too large", Memory{Content: strings.Repeat("x", 101), Embedding: unit(1, 0, 0)}, CodeContentTooLarge},
		{"content at limit", Memory{Content: strings.Repeat("x", 100), Embedding: unit(1, 0, 0)}, 0},
		{"metadata bytes", Memory{Metadata: map[string]string{"k": strings.Repeat("v", 50)}, Embedding: unit(1, 0, 0)}, CodeMetadataTooLarge},
		{"metadata items", Memory{Tags: []string{"a", "b", "c", "d", "e"}, Embedding: unit(1, 0, 0)}, CodeMetadataTooLarge},
		{"invalid id utf8", Memory{ID: "\xff\xfe", Embedding: unit(1, 0, 0)}, CodeInvalidID},
		{"invalid id control", Memory{ID: "a\nb", Embedding: unit(1, 0, 0)}, CodeInvalidID},
		{"invalid id C1 control", Memory{ID: "a\u0085b", Embedding: unit(1, 0, 0)}, CodeInvalidID},
		{"content not UTF-8", Memory{Content: "caf\xe9", Embedding: unit(1, 0, 0)}, CodeInvalidText},
		{"metadata not UTF-8", Memory{Metadata: map[string]string{"k": "\xff"}, Embedding: unit(1, 0, 0)}, CodeInvalidText},
		{"tag not UTF-8", Memory{Tags: []string{"ok", "\xc3"}, Embedding: unit(1, 0, 0)}, CodeInvalidText},
		{"id too long", Memory{ID: strings.Repeat("i", 31), Embedding: unit(1, 0, 0)}, CodeInvalidID},
		{"duplicate of valid", good("v1"), CodeDuplicateID},
		{"bad timestamp", Memory{Embedding: unit(1, 0, 0), CreatedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, CodeInvalidTimestamp},
		{"first of a dup pair is bad", Memory{ID: "d", Embedding: unit(0, 0, 0)}, CodeInvalidEmbedding},
		{"second of the pair stands", Memory{ID: "d", Embedding: unit(0, 0, 1)}, 0},
		{"valid last", good("v2"), 0},
	}
	batch := make([]Memory, len(cases))
	for i, c := range cases {
		batch[i] = c.m
	}
	res, err := sp.BatchRemember(ctx, batch)
	if err != nil {
		t.Fatalf("partial failure returned a batch error: %v", err)
	}
	wantStored := 0
	for i, c := range cases {
		it := res.Items[i]
		if c.code == 0 {
			wantStored++
			if it.Err != nil || it.ID == "" {
				t.Errorf("%s: %v", c.name, it.Err)
				continue
			}
			if _, err := sp.Get(ctx, it.ID); err != nil {
				t.Errorf("%s: stored item not readable: %v", c.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(it.Err, &e) || e.Code != c.code || e.Item != i || e.Retryable() || it.ID != "" {
			t.Errorf("%s: got %v, want %s at item %d", c.name, it.Err, c.code, i)
		}
	}
	if res.Stored != wantStored || res.Failed != len(cases)-wantStored || sp.Len() != wantStored || res.Elapsed <= 0 {
		t.Fatalf("stored %d failed %d len %d elapsed %v, want %d stored", res.Stored, res.Failed, sp.Len(), res.Elapsed, wantStored)
	}
	if m, _ := sp.Get(ctx, "zero-conf"); m.Confidence == nil || *m.Confidence != 0 {
		t.Fatalf("confidence 0 not kept: %v", m.Confidence)
	}
	if res.Err() == nil || len(res.Retryable()) != 0 {
		t.Fatal("Err/Retryable summary wrong")
	}
}

func TestBatchLevelErrors(t *testing.T) {
	ctx := context.Background()
	lim := DefaultLimits
	lim.MaxBatch = 3
	s := openTemp(t, WithLimits(lim))
	sp := mustSpace(t, s, "b")
	if res, err := sp.BatchRemember(ctx, nil); !errors.Is(err, ErrEmptyBatch) || len(res.Items) != 0 {
		t.Fatalf("nil batch = %v", err)
	}
	if _, err := sp.BatchRemember(ctx, []Memory{}); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty batch = %v", err)
	}
	if res, err := sp.BatchRemember(ctx, make([]Memory, 4)); !errors.Is(err, ErrBatchTooLarge) || res.Failed != 4 {
		t.Fatalf("oversized batch = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if res, err := sp.BatchRemember(canceled, []Memory{{Embedding: unit(1)}}); !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) || !IsRetryable(res.Items[0].Err) {
		t.Fatalf("canceled ctx = %v", err)
	}
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := sp.Remember(expired, Memory{Embedding: unit(1)}); !errors.Is(err, ErrDeadlineExceeded) || !IsRetryable(err) {
		t.Fatalf("expired ctx = %v", err)
	}
	if sp.Len() != 0 || sp.Dim() != 0 {
		t.Fatal("a failed batch left a trace")
	}
}

// TestFailedCommitLeavesNoTrace: a commit failure (as from a full disk) fails every item
// with the retryable STORAGE code, nothing of the batch is visible, and the store keeps
// working.
func TestFailedCommitLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "f")
	mustStore(t, sp, []Memory{{ID: "keep", Embedding: unit(1, 0, 0)}})
	setCommitHook(s, func(int) error { return errors.New("injected: no space left on device") })
	batch := []Memory{
		{ID: "new", Embedding: unit(0, 1, 0)},
		{ID: "keep", Content: "replacement", Embedding: unit(0, 0, 1)},
		{Embedding: unit(1, 1)}, // invalid anyway
	}
	res, err := sp.BatchRemember(ctx, batch)
	if !errors.Is(err, ErrStorage) || !IsRetryable(err) {
		t.Fatalf("failed commit = %v, want retryable STORAGE", err)
	}
	if !errors.Is(res.Items[0].Err, ErrStorage) || !errors.Is(res.Items[1].Err, ErrStorage) || !errors.Is(res.Items[2].Err, ErrDimensionMismatch) {
		t.Fatalf("item errors = %v", res.Err())
	}
	if got := res.Retryable(); len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("Retryable = %v", got)
	}
	if _, err := sp.Forget(ctx, "keep"); !errors.Is(err, ErrStorage) {
		t.Fatalf("forget under failing commits = %v", err)
	}
	setCommitHook(s, nil)
	if _, err := sp.Get(ctx, "new"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed batch visible on disk: %v", err)
	}
	m, err := sp.Get(ctx, "keep")
	if err != nil || m.Content != "" {
		t.Fatalf("failed upsert changed the memory: %+v %v", m, err)
	}
	hits, _ := sp.Recall(ctx, Query{Embedding: unit(0, 1, 0), K: 10, MinSimilarity: -1})
	if len(hits) != 1 || hits[0].Memory.ID != "keep" || hits[0].Similarity > 0.01 {
		t.Fatalf("failed batch visible in the index: %+v", hits)
	}
	// Retrying the retryable items now works.
	retry := []Memory{batch[0], batch[1]}
	res, err = sp.BatchRemember(ctx, retry)
	if err != nil || res.Stored != 2 || !res.Items[1].Replaced || res.Items[0].Replaced {
		t.Fatalf("retry = %v %+v", err, res.Items)
	}
	if sp.Len() != 2 {
		t.Fatalf("len = %d", sp.Len())
	}
}

func TestCanceledInsideCommitLeavesNoTrace(t *testing.T) {
	s := openTemp(t)
	sp := mustSpace(t, s, "c")
	ctx, cancel := context.WithCancel(context.Background())
	setCommitHook(s, func(int) error { cancel(); return nil }) // cancel at the last moment
	res, err := sp.BatchRemember(ctx, []Memory{{ID: "x", Embedding: unit(1, 0)}})
	setCommitHook(s, nil)
	if !errors.Is(err, ErrCanceled) || !errors.Is(res.Items[0].Err, ErrCanceled) {
		t.Fatalf("cancel before commit = %v", err)
	}
	if _, err := sp.Get(context.Background(), "x"); !errors.Is(err, ErrNotFound) || sp.Len() != 0 || sp.Dim() != 0 {
		t.Fatalf("canceled batch left a trace: %v len %d dim %d", err, sp.Len(), sp.Dim())
	}
}

func TestUpsertReplacesVectorInIndex(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "u")
	mustStore(t, sp, []Memory{{ID: "m", Content: "v1", Embedding: unit(1, 0, 0), Tags: []string{"old"}}, {ID: "other", Embedding: unit(0, 0, 1)}})
	hits, _ := sp.Recall(ctx, Query{Embedding: unit(1, 0, 0), K: 1})
	if len(hits) != 1 || hits[0].Memory.ID != "m" {
		t.Fatalf("before upsert: %+v", hits)
	}
	id, err := sp.Remember(ctx, Memory{ID: "m", Content: "v2", Embedding: unit(0, 3, 0)})
	if err != nil || id != "m" {
		t.Fatal(err)
	}
	hits, _ = sp.Recall(ctx, Query{Embedding: unit(1, 0, 0), K: 10, MinSimilarity: -1})
	if len(hits) != 2 {
		t.Fatalf("index holds %d entries after upsert, want 2: %+v", len(hits), hits)
	}
	hits, _ = sp.Recall(ctx, Query{Embedding: unit(0, 1, 0), K: 1})
	if hits[0].Memory.ID != "m" || hits[0].Memory.Content != "v2" || hits[0].Similarity < 0.999 || len(hits[0].Memory.Tags) != 0 {
		t.Fatalf("upsert not visible: %+v", hits[0])
	}
	if st := sp.Stats(); st.Len != 2 || st.IndexLen != 2 {
		t.Fatalf("stats after upsert: %+v", st)
	}
}

func TestFirstValidMemoryFixesDimension(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "d")
	res, err := sp.BatchRemember(ctx, []Memory{
		{Embedding: unit(0, 0)},    // invalid: does not fix the dimension
		{Embedding: unit(1, 2, 3)}, // fixes 3
		{Embedding: unit(1, 2)},    // mismatch
	})
	if err != nil || res.Stored != 1 || !errors.Is(res.Items[0].Err, ErrInvalidEmbedding) || !errors.Is(res.Items[2].Err, ErrDimensionMismatch) {
		t.Fatalf("%v %v", err, res.Err())
	}
	if sp.Dim() != 3 {
		t.Fatalf("dim = %d", sp.Dim())
	}

	// Concurrent first batches with different dimensions: exactly one dimension wins and
	// every stored memory has it.
	sp2 := mustSpace(t, s, "race")
	var wg sync.WaitGroup
	for d := 1; d <= 6; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := make([]float32, d)
			v[0] = 1
			sp2.BatchRemember(ctx, []Memory{{Embedding: v}, {Embedding: v}})
		}()
	}
	wg.Wait()
	n := 0
	for m, err := range sp2.All(ctx) {
		if err != nil || len(m.Embedding) != sp2.Dim() {
			t.Fatalf("memory of dim %d in a space of dim %d (%v)", len(m.Embedding), sp2.Dim(), err)
		}
		n++
	}
	if n != 2 || sp2.Len() != 2 {
		t.Fatalf("%d memories stored, want exactly the winner's 2", n)
	}
}

func TestGeneratedIDsAndDefaults(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "g")
	before := time.Now()
	res := mustStore(t, sp, []Memory{{Content: "a", Embedding: unit(3, 4)}, {Content: "b", Embedding: unit(4, 3)}})
	a, b := res.Items[0].ID, res.Items[1].ID
	if len(a) != 26 || a >= b {
		t.Fatalf("generated IDs %q %q are not sortable in batch order", a, b)
	}
	m, err := sp.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if m.Conf() != DefaultConfidence || m.CreatedAt.Before(before.Add(-time.Second)) || m.Tier != Hot ||
		m.Embedding[0] != 0.6 || m.Embedding[1] != 0.8 || m.AccessCount != 0 || !m.LastAccess.IsZero() {
		t.Fatalf("defaults wrong: %+v", m)
	}
	if _, err := sp.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	if _, err := sp.Get(ctx, ""); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("Get(\"\") = %v", err)
	}
	// Time-sortable to the millisecond (within one, NewID's entropy IDs and a write's
	// sequence-carrying IDs do not sort against each other).
	tb, _ := ids.Time(b)
	if id := s.NewID(); len(id) != 26 || id == a || id == b {
		t.Fatalf("NewID = %q", id)
	} else if tn, ok := ids.Time(id); !ok || tn.Before(tb) {
		t.Fatalf("NewID %q (%v) is older than the ID generated before it (%v)", id, tn, tb)
	}
}

func TestForget(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "f")
	mems := synthetic(rand.New(rand.NewPCG(2, 2)), 50, 8, "f")
	mustStore(t, sp, mems)
	target := mems[7]
	hits, _ := sp.Recall(ctx, Query{Embedding: target.Embedding, K: 1})
	if hits[0].Memory.ID != target.ID {
		t.Fatal("setup: target not nearest to itself")
	}
	n, err := sp.Forget(ctx, target.ID, target.ID, "unknown")
	if err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v", n, err)
	}
	hits, _ = sp.Recall(ctx, Query{Embedding: target.Embedding, K: 50, MinSimilarity: -1})
	for _, h := range hits {
		if h.Memory.ID == target.ID {
			t.Fatal("forgotten memory still recalled")
		}
	}
	if len(hits) != 49 || sp.Len() != 49 || sp.Stats().IndexLen != 49 {
		t.Fatalf("after forget: %d hits, len %d", len(hits), sp.Len())
	}
	if _, err := sp.Forget(ctx, "ok", ""); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("Forget with an empty ID = %v", err)
	}
	if n, err := sp.Forget(ctx); n != 0 || err != nil {
		t.Fatalf("Forget() = %d %v", n, err)
	}
	if _, err := sp.Get(ctx, target.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(forgotten) = %v", err)
	}
}

// TestFailedCommitOnGraphSpaceLeavesNoTrace: on an HNSW space the graph is built while the
// commit runs; a failed commit must leave nothing searchable.
func TestFailedCommitOnGraphSpaceLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "g", WithIndex(IndexHNSW))
	r := rand.New(rand.NewPCG(9, 9))
	mustStore(t, sp, synthetic(r, 300, 16, "keep"))
	bad := synthetic(r, 200, 16, "lost")
	setCommitHook(s, func(int) error { return errors.New("injected: I/O error") })
	if _, err := sp.BatchRemember(ctx, bad); !errors.Is(err, ErrStorage) {
		t.Fatalf("failed commit: %v", err)
	}
	setCommitHook(s, nil)
	for _, m := range bad[:50] {
		for _, exact := range []bool{false, true} {
			hits, err := sp.Recall(ctx, Query{Embedding: m.Embedding, K: 5, MinSimilarity: -1, Exact: exact})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				if strings.HasPrefix(h.Memory.ID, "lost") {
					t.Fatalf("memory of a failed commit recalled: %s", h.Memory.ID)
				}
			}
		}
	}
	if st := sp.Stats(); st.Len != 300 || st.IndexLen != 300 {
		t.Fatalf("after a failed commit: %+v", st)
	}
	// And the space keeps working: the same batch stores fine now.
	mustStore(t, sp, bad)
	if hits, _ := sp.Recall(ctx, Query{Embedding: bad[7].Embedding, K: 1}); hits[0].Memory.ID != bad[7].ID {
		t.Fatalf("retried memory not found: %v", hits[0].Memory.ID)
	}
}
