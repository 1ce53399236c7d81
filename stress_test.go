package engram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStress is the concurrency stress test (issue "Reliability", item 6). Eight spaces —
// exact, HNSW and auto (promoted from exact to HNSW mid-run) — take, all at once and for a
// bounded time: unary Remember, BatchRemember with invalid items mixed in, upserts, Forget,
// BatchUpdate, UpdateWhere, RememberMixed, a Batcher and a Stream per space, Recall and
// BatchRecall (filtered, exact, with invalid queries), Get, All, Snapshot, Stats, Sync and
// Expvar, while three spaces are repeatedly dropped and re-created under the callers' feet.
// Then the post-conditions are checked; then a second wave of the same load runs and
// Store.Close races it; then the file is reopened and the post-conditions checked again.
//
// What is asserted, and why it is guaranteed:
//
//   - Every error has a code expected for its situation (see stress.ok): the code of the
//     defect injected into an item or query; SPACE_NOT_FOUND only on a space whose drop has
//     begun; CLOSED only once Store.Close has begun (or from a Batcher / Stream that a drop
//     closed); NOT_FOUND only where the ID may be absent; BACKPRESSURE only from a FailFast
//     stream; DEADLINE_EXCEEDED only for a call given a short deadline (one in four or five
//     writes), and then the call must have left no trace: an owner checks so at once, and
//     other callers do not record it, so a trace would fail the history check. Anything
//     else (STORAGE, CORRUPT, UNKNOWN, a panic) fails the test.
//   - Each ID of a space is a register. Writes and forgets are recorded, when they succeed,
//     with the logical times just before the call and just after it returned (stress.tick,
//     one atomic counter, so the order of two ticks is the real-time order). The final
//     state of a key is the effect of the operation that committed last; that operation L
//     satisfies Y.start < commit(Y) < commit(L) < L.end for every other Y, so L is among the
//     operations X with X.end > Y.start for all Y ≠ X. The check: the stored state (absent,
//     or the exact content and embedding of one write) is the effect of one such X. When
//     one operation started after all others ended — every owned ID, which only its owner
//     goroutine touches one call at a time — that is exactly "acknowledged writes are
//     present, acknowledged forgets are gone"; contended IDs (several goroutines upserting
//     and forgetting the same IDs at once) get only what is guaranteed.
//   - Keys are per incarnation of a space: a call succeeding on a *Space handle worked on
//     that incarnation (DropSpace waits for calls in flight and the old handle refuses new
//     ones), so a drop voids exactly the history of the dropped incarnation, and a re-created
//     space must hold only what was written through its own handle.
//   - Owned IDs are also checked as they go (read-your-writes): Get and exact Recall right
//     after a write, NOT_FOUND right after Forget, Forget's count and BatchRemember's
//     Replaced flag against the owner's model, BatchUpdate's per-item results.
//   - Every memory read (Get, Recall, All) is a version some write produced: its embedding
//     is the one written with its content (no record mixes two writes); recall hits satisfy
//     the query's filters and thresholds, have the right similarity and score, and are in
//     score order.
//   - Post-conditions of every surviving space: All, Len, Stats (Len, IndexLen, hot tier)
//     agree; the index holds exactly the records' keys; the ID map and the records agree;
//     access statistics exist only for stored IDs; the HNSW graph passes Verify; every
//     stored memory is the exact-recall rank-1 hit of its own embedding (similarity ≥
//     0.9999); the history check above. Dropped handles answer SPACE_NOT_FOUND.
//   - Close racing the second wave returns nil; calls after it fail with CLOSED; writes
//     acknowledged before or during Close are found after reopening (HNSW graphs from the
//     snapshot Close saved). No Error-level log line is emitted.
//
// A watchdog dumps every goroutine's stack and aborts the test binary if the test has not
// finished within stressDeadline: a deadlock cannot pass unnoticed.
//
// Library bugs this test found have their own minimal regression tests in bug_test.go.
func TestStress(t *testing.T) {
	run := 3 * time.Second // concurrent phase
	wave := 400 * time.Millisecond
	if raceEnabled {
		run = 2500 * time.Millisecond // the race detector slows everything ~5-10x
		wave = 300 * time.Millisecond
	}
	if testing.Short() {
		run, wave = run/3, wave/2
	}
	h := newStress(t)
	defer h.watchdog(stressDeadline)()

	path := filepath.Join(t.TempDir(), "stress.db")
	s, err := Open(path, WithLogger(slog.New(h.log)), WithAccessFlushInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h.s = s
	ctx := context.Background()
	for _, spec := range stressSpecs {
		sp, err := s.Space(ctx, spec.name, spec.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		h.reg(sp)
	}

	// Phase 1: everything at once.
	h.setPhase("concurrent")
	start := time.Now()
	h.runWave(run, nil)
	t.Logf("concurrent phase: %v, %s", time.Since(start).Round(time.Millisecond), h.counts())
	if h.drops.Load() == 0 || h.puts.Load() == 0 || h.recalls.Load() == 0 || h.forgets.Load() == 0 {
		t.Fatalf("the load did not run: %s", h.counts())
	}
	if t.Failed() {
		t.FailNow()
	}

	// Phase 2: post-conditions on the open store.
	h.setPhase("check before close")
	h.verifyStore(s, "before close")
	h.checkDroppedHandles()
	if t.Failed() {
		t.FailNow()
	}

	// Phase 3: a second wave, with Store.Close racing it.
	h.setPhase("close racing calls")
	var closeErr error
	h.runWave(wave, func() {
		h.closing.Store(true)
		closeErr = s.Close()
	})
	if closeErr != nil {
		t.Fatalf("Close racing calls: %v", closeErr)
	}
	h.checkClosed(s)
	if t.Failed() {
		t.FailNow()
	}

	// Phase 4: reopen; acknowledged writes of both waves must be there.
	h.setPhase("reopen")
	s2, err := Open(path, WithLogger(slog.New(h.log)))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	h.verifyStore(s2, "after reopen")
	if err := s2.Close(); err != nil {
		t.Fatalf("close after reopen: %v", err)
	}
	if n := h.log.errs.Load(); n > 0 {
		t.Fatalf("%d Error-level log lines, first: %s", n, h.log.getFirst())
	}
	t.Logf("total: %s; %v", h.counts(), time.Since(start).Round(time.Millisecond))
}

// stressDeadline bounds the whole test; past it the watchdog dumps stacks and aborts.
const stressDeadline = 2 * time.Minute

const (
	stressDim     = 16
	stressOwners  = 2  // owner goroutines per space, each with its own IDs
	stressOwned   = 30 // IDs per owner
	stressShared  = 24 // contended IDs per space ("c-<n>")
	stressStreamN = 40 // stream IDs per space ("s-<n>"), cycled; see streamInto for repeats in a batch
)

var stressColors = []string{"red", "green", "blue"}

type stressSpec struct {
	name      string
	kind      IndexKind
	droppable bool
	mode      BackpressureMode // of the space's stream
	adaptive  bool             // the space's batcher sizes batches adaptively
}

var stressSpecs = []stressSpec{
	{"flat-a", IndexFlat, false, FailFast, false},
	{"flat-b", IndexFlat, true, Block, true},
	{"flat-c", IndexFlat, false, Block, false},
	{"hnsw-a", IndexHNSW, false, FailFast, true},
	{"hnsw-b", IndexHNSW, true, Block, false},
	{"hnsw-c", IndexHNSW, false, Block, false},
	{"auto-a", IndexAuto, false, FailFast, false}, // switches to HNSW at 48 memories
	{"auto-b", IndexAuto, true, Block, true},      // ... and again after every re-creation
}

func (sp stressSpec) opts() []SpaceOption {
	o := []SpaceOption{WithDimension(stressDim), WithIndex(sp.kind)}
	if sp.kind != IndexFlat {
		o = append(o, WithHNSW(8, 40, 40)) // small M: more pruning, orphans and repairs
	}
	if sp.kind == IndexAuto {
		o = append(o, WithHNSWThreshold(48))
	}
	return o
}

func stressSpecOf(name string) stressSpec {
	for _, s := range stressSpecs {
		if s.name == name {
			return s
		}
	}
	panic("no spec " + name)
}

// incarnation is one life of a space: from its creation to its drop. Histories are kept per
// incarnation.
type incarnation struct {
	name string
	gen  int
	sp   *Space
	// dropping is set before DropSpace is called (and cleared if it fails without dropping);
	// only then may calls on the handle fail with SPACE_NOT_FOUND. dropped is set once
	// DropSpace returned nil.
	dropping, dropped atomic.Bool

	mu     sync.Mutex
	b      *Batcher
	models map[int]map[string]ownedMem // per owner goroutine
}

func (inc *incarnation) String() string { return fmt.Sprintf("%s#%d", inc.name, inc.gen) }

// ownedMem is an owner's knowledge of one of its IDs.
type ownedMem struct {
	content string
	conf    float32
}

type histKey struct {
	inc *incarnation
	id  string
}

// stressOp is one successful write (put) or forget (del) of a key, with the logical times
// just before the call and just after it returned.
type stressOp struct {
	start, end uint64
	del        bool
	content    string
}

type stress struct {
	t   *testing.T
	s   *Store
	log *stressLog

	clock   atomic.Uint64
	closing atomic.Bool
	phase   atomic.Value
	stop    chan struct{}

	regMu  sync.Mutex
	incs   map[*Space]*incarnation
	latest map[string]*incarnation
	gens   map[string]int
	feeds  []*Batcher

	histMu sync.Mutex
	hist   map[histKey][]stressOp

	versions sync.Map // content → unit embedding, registered before the write is issued

	failures                               atomic.Int64
	puts, forgets, recalls, updates, drops atomic.Int64
	gets, streamed, batched                atomic.Int64
	expected                               [numCodes]atomic.Int64 // expected failures by code
}

func newStress(t *testing.T) *stress {
	h := &stress{t: t, log: &stressLog{}, incs: map[*Space]*incarnation{},
		latest: map[string]*incarnation{}, gens: map[string]int{}, hist: map[histKey][]stressOp{}}
	h.phase.Store("setup")
	return h
}

func (h *stress) setPhase(p string) { h.phase.Store(p) }

// watchdog aborts the test binary with every goroutine's stack if the test is still running
// after d. It panics from its own goroutine because a deadlocked test goroutine could never
// reach t.Fatal.
func (h *stress) watchdog(d time.Duration) (stop func()) {
	timer := time.AfterFunc(d, func() {
		fmt.Fprintf(os.Stderr, "\nTestStress: not finished after %v, in phase %q: deadlock? goroutines:\n\n", d, h.phase.Load())
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		panic(fmt.Sprintf("TestStress: deadline %v exceeded in phase %q (stacks above)", d, h.phase.Load()))
	})
	return func() { timer.Stop() }
}

func (h *stress) tick() uint64 { return h.clock.Add(1) }

func (h *stress) stopped() bool {
	select {
	case <-h.stop:
		return true
	default:
		return false
	}
}

// fail reports a violation (from any goroutine), keeping the log readable.
func (h *stress) fail(format string, args ...any) {
	if n := h.failures.Add(1); n <= 25 {
		h.t.Errorf(format, args...)
	} else if n == 26 {
		h.t.Errorf("... more failures not shown")
	}
}

func (h *stress) counts() string {
	var exp []string
	for c := range numCodes {
		if n := h.expected[c].Load(); n > 0 {
			exp = append(exp, fmt.Sprintf("%v %d", c, n))
		}
	}
	return fmt.Sprintf("%d writes acknowledged (%d via batchers, %d via streams), %d IDs forgotten, %d updates, %d recalls, %d gets, %d drops; expected errors: %s",
		h.puts.Load(), h.batched.Load(), h.streamed.Load(), h.forgets.Load(), h.updates.Load(), h.recalls.Load(), h.gets.Load(), h.drops.Load(), strings.Join(exp, ", "))
}

// expect counts n expected failures with code c.
func (h *stress) expect(c Code, n int) { h.expected[c].Add(int64(n)) }

// ok classifies err from a call on inc: nil returns true; an expected error (see allowed)
// returns false; any other error fails the test and returns false.
func (h *stress) ok(where string, err error, inc *incarnation, extra ...Code) bool {
	if err == nil {
		return true
	}
	if h.allowed(err, inc, extra...) {
		h.expect(CodeOf(err), 1)
	} else {
		h.fail("%s on %v: unexpected error: %v", where, inc, err)
	}
	return false
}

// allowed: one of extra; SPACE_NOT_FOUND once inc's drop began; CLOSED once Close began.
func (h *stress) allowed(err error, inc *incarnation, extra ...Code) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false // not an engram error
	}
	if slices.Contains(extra, e.Code) {
		return true
	}
	switch e.Code {
	case CodeSpaceNotFound:
		return inc != nil && inc.dropping.Load()
	case CodeClosed:
		return h.closing.Load()
	}
	return false
}

// feedClosed is the extra code a Batcher or Stream may fail with: DropSpace closes the feeds
// of the space it drops.
func feedClosed(inc *incarnation) []Code {
	if inc.dropping.Load() {
		return []Code{CodeClosed}
	}
	return nil
}

// gone reports whether err means the incarnation is gone (or the store closed), so the caller
// should look the space up again.
func gone(err error) bool {
	c := CodeOf(err)
	return c == CodeSpaceNotFound || c == CodeClosed
}

// reg returns the incarnation of a handle, registering it when first seen. Every space is
// registered right after it is created (setup, dropper), so registration follows creation
// order and latest is the newest incarnation of each name.
func (h *stress) reg(sp *Space) *incarnation {
	h.regMu.Lock()
	defer h.regMu.Unlock()
	if inc, ok := h.incs[sp]; ok {
		return inc
	}
	inc := &incarnation{name: sp.Name(), gen: h.gens[sp.Name()], sp: sp, models: map[int]map[string]ownedMem{}}
	h.gens[sp.Name()]++
	h.incs[sp] = inc
	h.latest[sp.Name()] = inc
	return inc
}

func (h *stress) latestOf(name string) *incarnation {
	h.regMu.Lock()
	defer h.regMu.Unlock()
	return h.latest[name]
}

// current returns the live incarnation of name, waiting while a dropped space is being
// re-created; nil when the wave is over or the store closed.
func (h *stress) current(name string) *incarnation {
	for !h.stopped() {
		sp, err := h.s.LookupSpace(name)
		if err == nil {
			return h.reg(sp)
		}
		switch {
		case CodeOf(err) == CodeClosed && h.closing.Load():
			h.expect(CodeClosed, 1)
			return nil
		case CodeOf(err) == CodeSpaceNotFound && stressSpecOf(name).droppable:
			time.Sleep(200 * time.Microsecond) // between a drop and the re-creation
		default:
			h.fail("LookupSpace(%s): unexpected error: %v", name, err)
			return nil
		}
	}
	return nil
}

func (inc *incarnation) model(owner int) map[string]ownedMem {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	m := inc.models[owner]
	if m == nil {
		m = map[string]ownedMem{}
		inc.models[owner] = m
	}
	return m
}

// batcher returns the incarnation's shared Batcher, starting it on first use.
func (h *stress) batcher(inc *incarnation) *Batcher {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	if inc.b == nil {
		opts := BatcherOptions{MaxItems: 8, MaxDelay: 2 * time.Millisecond}
		if stressSpecOf(inc.name).adaptive {
			opts.Adaptive = &Adaptive{Min: 2, Max: 16, Initial: 4, Window: 4}
		}
		inc.b = inc.sp.NewBatcher(opts)
		h.regMu.Lock()
		h.feeds = append(h.feeds, inc.b)
		h.regMu.Unlock()
	}
	return inc.b
}

// record adds successful operations on ids of inc, all issued at start and returned at end.
func (h *stress) record(inc *incarnation, start, end uint64, del bool, ids []string, contents []string) {
	h.histMu.Lock()
	defer h.histMu.Unlock()
	for i, id := range ids {
		op := stressOp{start: start, end: end, del: del}
		if !del {
			op.content = contents[i]
		}
		k := histKey{inc, id}
		h.hist[k] = append(h.hist[k], op)
	}
}

// mem returns a fresh valid memory for id, its version registered in h.versions.
func (h *stress) mem(r *rand.Rand, id, who string) Memory {
	m := Memory{
		ID:         id,
		Content:    id + "#" + strconv.FormatUint(h.tick(), 10),
		Embedding:  randUnit(r, stressDim),
		Confidence: Confidence(float32(r.IntN(101)) / 100),
		Tags:       []string{stressColors[r.IntN(3)]},
		Metadata:   map[string]string{"k": strconv.Itoa(r.IntN(4)), "by": who},
	}
	h.versions.Store(m.Content, m.Embedding)
	return m
}

// bad returns an invalid memory and the code it must fail with. Its ID is unique, so a
// wrongly stored one would show up as a phantom in the history check.
func (h *stress) bad(r *rand.Rand) (Memory, Code) {
	id := "bad-" + strconv.FormatUint(h.tick(), 10)
	m := Memory{ID: id, Content: "bad", Embedding: randUnit(r, stressDim)}
	switch r.IntN(7) {
	case 0:
		m.Embedding = randUnit(r, stressDim+1+r.IntN(3))
		return m, CodeDimensionMismatch
	case 1:
		m.Embedding = make([]float32, stressDim)
		return m, CodeInvalidEmbedding
	case 2:
		m.Embedding[r.IntN(stressDim)] = float32(math.NaN())
		return m, CodeInvalidEmbedding
	case 3:
		m.Confidence = Confidence(1.5)
		return m, CodeInvalidConfidence
	case 4:
		m.ID = "bad\x01" + id
		return m, CodeInvalidID
	case 5:
		m.Content = "bad\xff"
		return m, CodeInvalidText
	default:
		m.CreatedAt = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
		return m, CodeInvalidTimestamp
	}
}

// checkVersion verifies that a memory read back is a version some write produced, whole.
func (h *stress) checkVersion(where string, inc *incarnation, m Memory) {
	if len(m.Embedding) != stressDim {
		h.fail("%s on %v: memory %q has %d dimensions", where, inc, m.ID, len(m.Embedding))
		return
	}
	if !strings.HasPrefix(m.Content, m.ID+"#") {
		h.fail("%s on %v: memory %q carries content %q of another ID", where, inc, m.ID, m.Content)
		return
	}
	v, ok := h.versions.Load(m.Content)
	if !ok {
		h.fail("%s on %v: memory %q has content %q that no write produced", where, inc, m.ID, m.Content)
		return
	}
	if d := dot32(v.([]float32), m.Embedding); d < 0.9999 {
		h.fail("%s on %v: memory %q: embedding does not belong to its content (cos %v)", where, inc, m.ID, d)
	}
}

func dot32(a, b []float32) float32 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return float32(s)
}

func normalized(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	for i := range v {
		out[i] = float32(float64(v[i]) / math.Sqrt(ss))
	}
	return out
}

// deadline returns, one time in n, a context expiring within d, so that the call races its
// deadline: it either succeeds or fails with DEADLINE_EXCEEDED, and then leaves no trace
// (the ctx ended before the commit, or the memory was withdrawn from its batcher's queue).
// ok says whether DEADLINE_EXCEEDED is allowed.
func deadline(r *rand.Rand, n int, d time.Duration) (ctx context.Context, cancel context.CancelFunc, ok bool) {
	if r.IntN(n) != 0 {
		return context.Background(), func() {}, false
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Duration(r.Int64N(int64(d))))
	return ctx, cancel, true
}

// timedOut reports whether err is the DEADLINE_EXCEEDED a deadline context may cause.
func timedOut(err error, dl bool) bool { return dl && CodeOf(err) == CodeDeadlineExceeded }

// runWave runs the whole load until d has passed (or, with during, until during has run
// after d), then stops it and waits for every goroutine.
func (h *stress) runWave(d time.Duration, during func()) {
	h.stop = make(chan struct{})
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	h.t.Logf("seed %d", seed)
	for si, spec := range stressSpecs {
		base := seed + uint64(si)*1000
		for w := 0; w < stressOwners; w++ {
			wg.Go(func() { h.owner(spec, w, rand.New(rand.NewPCG(base, uint64(w)))) })
		}
		for w := 0; w < 2; w++ {
			wg.Go(func() { h.contender(spec, w, rand.New(rand.NewPCG(base, 100+uint64(w)))) })
		}
		wg.Go(func() { h.reader(spec, rand.New(rand.NewPCG(base, 200))) })
		wg.Go(func() { h.streamer(spec, rand.New(rand.NewPCG(base, 300))) })
	}
	wg.Go(func() { h.dropper(rand.New(rand.NewPCG(seed, 400))) })
	wg.Go(func() { h.housekeeper(rand.New(rand.NewPCG(seed, 500))) })
	time.Sleep(d)
	if during != nil {
		during()
		time.Sleep(20 * time.Millisecond) // let the callers run into the closed store
	}
	close(h.stop)
	wg.Wait()
}
