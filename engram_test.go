package engram

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestOpenTwiceFailsWithLockedAfterTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = Open(path, WithLockTimeout(200*time.Millisecond))
	if !errors.Is(err, ErrLocked) || !IsRetryable(err) {
		t.Fatalf("second Open = %v, want retryable LOCKED", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("second Open took %v: it must give up after its timeout", el)
	}
	if _, err := Open(path, WithLockTimeout(0)); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open with zero timeout = %v, want LOCKED at once", err)
	}
	if _, err := Open(path, WithReadOnly(), WithLockTimeout(0)); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only Open while a writer holds the file = %v, want LOCKED", err)
	}
	s.Close()
	s2, err := Open(path, WithLockTimeout(0))
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestOpenRejectsBadOptionsAndFiles(t *testing.T) {
	dir := t.TempDir()
	for name, opt := range map[string]Option{
		"negative timeout": WithLockTimeout(-1),
		"nil logger":       WithLogger(nil),
		"zero limit":       WithLimits(Limits{}),
		"negative flush":   WithAccessFlushInterval(-time.Second),
		"negative mmap":    WithInitialMmapSize(-1),
	} {
		if _, err := Open(filepath.Join(dir, "a.db"), opt); CodeOf(err) != CodeInvalidOption {
			t.Errorf("%s: Open = %v, want INVALID_OPTION", name, err)
		}
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, slices.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(junk); CodeOf(err) != CodeCorrupt {
		t.Fatalf("Open(junk) = %v, want CORRUPT", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.db"), WithReadOnly()); CodeOf(err) != CodeAccess || IsRetryable(err) {
		t.Fatalf("read-only Open of a missing file = %v, want ACCESS, not retryable", err)
	}
}

func TestSpacesCreateListDropAndNames(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, bad := range []string{"", "Upper", "-lead", "has space", "dot.name", "ünï", string(make([]byte, 65))} {
		if _, err := s.Space(ctx, bad); !errors.Is(err, ErrInvalidSpaceName) {
			t.Errorf("Space(%q) = %v, want INVALID_SPACE_NAME", bad, err)
		}
	}
	a := mustSpace(t, s, "alpha", WithDimension(3))
	if again := mustSpace(t, s, "alpha"); again != a {
		t.Fatal("Space returned a different handle for the same name")
	}
	mustSpace(t, s, "beta_2-x")
	if got := s.Spaces(); !slices.Equal(got, []string{"alpha", "beta_2-x"}) {
		t.Fatalf("Spaces = %v", got)
	}
	if _, err := s.Space(ctx, "alpha", WithDimension(4)); !errors.Is(err, ErrDimensionMismatch) {
		t.Fatalf("reopening with another dimension = %v, want DIMENSION_MISMATCH", err)
	}
	if _, err := s.Space(ctx, "alpha", WithConfidenceWeight(0.9)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("reopening with another weight = %v, want INVALID_OPTION", err)
	}
	if _, err := s.Space(ctx, "gamma", WithDimension(0)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("WithDimension(0) = %v", err)
	}
	if _, err := s.Space(ctx, "gamma", WithDimension(1<<21)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("huge dimension = %v", err)
	}
	if _, err := a.Remember(ctx, Memory{ID: "x", Embedding: unit(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DropSpace(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "x"); !errors.Is(err, ErrSpaceNotFound) {
		t.Fatalf("Get on a dropped space = %v, want SPACE_NOT_FOUND", err)
	}
	if _, err := a.Recall(ctx, Query{Embedding: unit(1, 0, 0), K: 1}); !errors.Is(err, ErrSpaceNotFound) {
		t.Fatalf("Recall on a dropped space = %v", err)
	}
	if err := s.DropSpace(ctx, "alpha"); !errors.Is(err, ErrSpaceNotFound) {
		t.Fatalf("second drop = %v", err)
	}
	if _, err := s.LookupSpace("alpha"); !errors.Is(err, ErrSpaceNotFound) {
		t.Fatalf("LookupSpace after drop = %v", err)
	}
	// A recreated space starts empty, with a new dimension.
	a2 := mustSpace(t, s, "alpha")
	if a2 == a || a2.Len() != 0 || a2.Dim() != 0 {
		t.Fatalf("recreated space: handle reused=%v len=%d dim=%d", a2 == a, a2.Len(), a2.Dim())
	}
	if _, err := a2.Get(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("memory survived the drop: %v", err)
	}
}

func TestSpaceLimit(t *testing.T) {
	lim := DefaultLimits
	lim.MaxSpaces = 2
	s := openTemp(t, WithLimits(lim))
	mustSpace(t, s, "a")
	mustSpace(t, s, "b")
	if _, err := s.Space(context.Background(), "c"); !errors.Is(err, ErrTooManySpaces) {
		t.Fatalf("third space = %v, want TOO_MANY_SPACES", err)
	}
}

func TestSpacesAreIsolated(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	a, b := mustSpace(t, s, "a"), mustSpace(t, s, "b")
	mustStore(t, a, []Memory{{ID: "same", Content: "in a", Embedding: unit(1, 0)}})
	mustStore(t, b, []Memory{{ID: "same", Content: "in b", Embedding: unit(0, 1, 0)}})
	ma, _ := a.Get(ctx, "same")
	mb, _ := b.Get(ctx, "same")
	if ma.Content != "in a" || mb.Content != "in b" || a.Dim() != 2 || b.Dim() != 3 {
		t.Fatalf("spaces leak: %q %q dims %d %d", ma.Content, mb.Content, a.Dim(), b.Dim())
	}
	if n, _ := a.Forget(ctx, "same"); n != 1 {
		t.Fatal("forget in a failed")
	}
	if _, err := b.Get(ctx, "same"); err != nil {
		t.Fatalf("forget in a removed b's memory: %v", err)
	}
	hits, _ := b.Recall(ctx, Query{Embedding: unit(1, 0, 0), K: 5, MinSimilarity: -1})
	if len(hits) != 1 || hits[0].Memory.Content != "in b" {
		t.Fatalf("recall in b = %+v", hits)
	}
}

// TestReopenRoundTrip: every space, config, memory and recall result survives Close/Open.
func TestReopenRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	a := mustSpace(t, s, "a", WithConfidenceWeight(0.25))
	b := mustSpace(t, s, "b", WithDimension(16))
	mustSpace(t, s, "empty")
	h := mustSpace(t, s, "h", WithIndex(IndexHNSW))
	mustStore(t, h, synthetic(r, 500, 24, "h"))
	mustStore(t, a, synthetic(r, 300, 24, "a"))
	mustStore(t, b, synthetic(r, 100, 16, "b"))
	mustStore(t, a, synthetic(r, 10, 24, "a")) // upserts of the first ten
	if n, _ := a.Forget(ctx, "ak10", "al11", "nope"); n != 2 {
		t.Fatalf("forget = %d", n)
	}
	queries := []Query{
		{Embedding: randUnit(r, 24), K: 10, MinSimilarity: -1},
		{Embedding: randUnit(r, 24), K: 7, MinConfidence: 0.5, Tags: []string{"t1"}},
		{Embedding: randUnit(r, 24), K: 20, Metadata: map[string]string{"parity": "odd"}, MinSimilarity: -1, Exact: true},
	}
	type snapshot struct {
		spaces []string
		stats  []SpaceStats
		mems   map[string][]Memory
		hits   [][]Hit
	}
	take := func(s *Store) snapshot {
		snap := snapshot{spaces: s.Spaces(), mems: map[string][]Memory{}}
		for _, name := range snap.spaces {
			sp, err := s.LookupSpace(name)
			if err != nil {
				t.Fatal(err)
			}
			st := sp.Stats()
			st.IndexBytes, st.PendingAccess, st.IndexLoadedFrom = 0, 0, ""
			st.Ops, st.Queue = nil, QueueStats{} // per session
			snap.stats = append(snap.stats, st)
			for m, err := range sp.All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				m.LastAccess, m.AccessCount = time.Time{}, 0
				snap.mems[name] = append(snap.mems[name], m)
			}
		}
		for _, name := range []string{"a", "h"} { // exact index, and the graph (via its snapshot)
			sp, _ := s.LookupSpace(name)
			for _, q := range queries {
				hits, err := sp.Recall(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for i := range hits {
					hits[i].Memory.LastAccess, hits[i].Memory.AccessCount = time.Time{}, 0
				}
				snap.hits = append(snap.hits, hits)
			}
		}
		return snap
	}
	before := take(s)
	if len(before.mems["a"]) != 298 || len(before.mems["b"]) != 100 || len(before.hits[0]) != 10 {
		t.Fatalf("unexpected fixture: %d %d %d", len(before.mems["a"]), len(before.mems["b"]), len(before.hits[0]))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	after := take(s2)
	if h, _ := s2.LookupSpace("h"); h.Stats().IndexLoadedFrom != "snapshot" {
		t.Fatalf("graph space not restored from its snapshot: %+v", h.Stats())
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("store differs after reopen:\nspaces %v / %v\nstats %+v\n      %+v", before.spaces, after.spaces, before.stats, after.stats)
	}
}

func TestReadOnlyStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, _ := Open(path)
	sp := mustSpace(t, s, "a")
	mustStore(t, sp, []Memory{{ID: "m", Embedding: unit(1, 2)}})
	s.Close()

	ro, err := Open(path, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ro2, err := Open(path, WithReadOnly()) // readers share the file
	if err != nil {
		t.Fatalf("second read-only Open: %v", err)
	}
	ro2.Close()
	sp, err = ro.LookupSpace("a")
	if err != nil {
		t.Fatal(err)
	}
	if hits, err := sp.Recall(ctx, Query{Embedding: unit(1, 2), K: 1}); err != nil || len(hits) != 1 {
		t.Fatalf("read-only recall = %v %v", hits, err)
	}
	if _, err := sp.Remember(ctx, Memory{Embedding: unit(1, 1)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write to read-only store = %v", err)
	}
	if _, err := sp.Forget(ctx, "m"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("forget in read-only store = %v", err)
	}
	if _, err := ro.Space(ctx, "new"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("create in read-only store = %v", err)
	}
	if err := ro.DropSpace(ctx, "a"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("drop in read-only store = %v", err)
	}
	if err := ro.Sync(); err != nil {
		t.Fatalf("Sync on read-only store: %v", err)
	}
}

func TestCallsAfterCloseFail(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "a")
	mustStore(t, sp, []Memory{{ID: "m", Embedding: unit(1, 0)}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	res, err := sp.BatchRemember(ctx, []Memory{{Embedding: unit(1, 0)}, {Embedding: unit(0, 1)}})
	if !errors.Is(err, ErrClosed) || res.Failed != 2 || !errors.Is(res.Items[1].Err, ErrClosed) {
		t.Fatalf("BatchRemember after Close = %v %+v", err, res)
	}
	checks := map[string]error{}
	_, checks["remember"] = sp.Remember(ctx, Memory{Embedding: unit(1, 0)})
	_, checks["recall"] = sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 1})
	_, checks["get"] = sp.Get(ctx, "m")
	_, checks["forget"] = sp.Forget(ctx, "m")
	_, checks["space"] = s.Space(ctx, "b")
	_, checks["lookup"] = s.LookupSpace("a")
	checks["drop"] = s.DropSpace(ctx, "a")
	checks["sync"] = s.Sync()
	rr, berr := sp.BatchRecall(ctx, []Query{{Embedding: unit(1, 0), K: 1}})
	checks["batch-recall"] = berr
	for _, err := range sp.All(ctx) {
		checks["scan"] = err
	}
	for op, err := range checks {
		if !errors.Is(err, ErrClosed) || IsRetryable(err) {
			t.Errorf("%s after Close = %v, want CLOSED", op, err)
		}
	}
	if !errors.Is(rr[0].Err, ErrClosed) {
		t.Errorf("BatchRecall item after Close = %v", rr[0].Err)
	}
}

func TestStoreStats(t *testing.T) {
	s := openTemp(t)
	a := mustSpace(t, s, "a")
	mustSpace(t, s, "b")
	mustStore(t, a, synthetic(rand.New(rand.NewPCG(1, 1)), 20, 8, "x"))
	st := s.Stats()
	if st.FileBytes == 0 || len(st.Spaces) != 2 || st.Spaces[0].Name != "a" || st.Spaces[0].Len != 20 ||
		st.Spaces[0].Tiers != [3]int64{20, 0, 0} || st.Spaces[0].IndexLen != 20 || st.Spaces[0].Dim != 8 ||
		st.Spaces[0].Index != "flat" || st.Spaces[0].Metric != "cosine" || st.Spaces[1].Len != 0 {
		t.Fatalf("stats = %+v", st)
	}
}
