package remote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/engram-go/engram/embed"
)

// vecOf is the fake server's embedding of a text: its length and its first byte.
func vecOf(t string) []float32 { return []float32{float32(len(t)), float32(t[0])} }

// fakeSend embeds like vecOf, rejects (HTTP 400) any request holding a text that starts with
// "BAD", and records each request's texts.
type fakeSend struct {
	mu    sync.Mutex
	calls [][]string
	fail  func(texts []string) error // overrides everything when it returns non-nil
}

func (f *fakeSend) send(ctx context.Context, texts []string) ([][]float32, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(texts))
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.fail != nil {
		if err := f.fail(texts); err != nil {
			return nil, err
		}
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if strings.HasPrefix(t, "BAD") {
			return nil, &embed.Error{Embedder: "fake", Status: 400, Msg: "input too long: " + t}
		}
		out[i] = vecOf(t)
	}
	return out, nil
}

func (f *fakeSend) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func newRunner(f *fakeSend, lim Limits, isolation int) *Runner {
	return &Runner{Name: "fake", Limits: lim, Workers: 4, Isolation: isolation, Send: f.send, Dims: &Dims{}}
}

var bigLimits = Limits{MaxInputs: 1000, MaxBytes: 1 << 20, MaxTextBytes: 1 << 10}

func texts(n int, bad ...int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text %d", i)
	}
	for _, b := range bad {
		out[b] = fmt.Sprintf("BAD text %d", b)
	}
	return out
}

// checkResult asserts that every text not in wantFailed has its vector and every one in
// it has none, returning the TextErrors.
func checkResult(t *testing.T, in []string, vecs [][]float32, err error, wantFailed ...int) embed.TextErrors {
	t.Helper()
	var te embed.TextErrors
	if len(wantFailed) == 0 {
		if err != nil {
			t.Fatalf("Embed: %v", err)
		}
	} else if !errors.As(err, &te) {
		t.Fatalf("Embed error = %v, want TextErrors for %v", err, wantFailed)
	}
	if len(vecs) != len(in) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(in))
	}
	for i := range in {
		if slices.Contains(wantFailed, i) {
			if te[i] == nil || vecs[i] != nil {
				t.Errorf("text %d: error %v, vector %v; want an error and no vector", i, te[i], vecs[i])
			}
			continue
		}
		if te[i] != nil || !slices.Equal(vecs[i], vecOf(in[i])) {
			t.Errorf("text %d (%q): vector %v, error %v; want %v", i, in[i], vecs[i], te[i], vecOf(in[i]))
		}
	}
	if len(te) != len(wantFailed) {
		t.Errorf("failed texts %v, want %v", te, wantFailed)
	}
	return te
}

func TestRunnerSplitsInOrder(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, Limits{MaxInputs: 3, MaxBytes: 20, MaxTextBytes: 100}, 0)
	in := []string{"aaaaaaaaaa", "b", "c", "d", "eeeeeeeeeeeeeeeeeeeeeeeeeeeee", "f", "g", "hhhhhhhhhhhhhhhhhhh", "i"}
	vecs, err := r.Embed(context.Background(), in)
	checkResult(t, in, vecs, err)
	// 3 inputs at most; 20 bytes at most unless a text is longer alone.
	want := [][]string{{"aaaaaaaaaa", "b", "c"}, {"d"}, {"eeeeeeeeeeeeeeeeeeeeeeeeeeeee"}, {"f", "g"}, {"hhhhhhhhhhhhhhhhhhh", "i"}}
	got := slices.Clone(f.calls)
	slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func TestRunnerChecksTexts(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, Limits{MaxInputs: 10, MaxBytes: 100, MaxTextBytes: 5}, 8)
	in := []string{"ok", "", "\xff\xfe", "toolong", "fine"}
	vecs, err := r.Embed(context.Background(), in)
	te := checkResult(t, in, vecs, err, 1, 2, 3)
	for i, sub := range map[int]string{1: "empty", 2: "UTF-8", 3: "exceeds the limit of 5"} {
		var ee *embed.Error
		if !errors.As(te[i], &ee) || ee.Retryable || !strings.Contains(ee.Msg, sub) {
			t.Errorf("text %d: %v, want a permanent error about %q", i, te[i], sub)
		}
	}
	if fmt.Sprint(f.calls) != "[[ok fine]]" {
		t.Errorf("sent %q; bad texts must not be sent", f.calls)
	}
	for _, in := range [][]string{nil, {}} {
		if v, err := r.Embed(context.Background(), in); v != nil || err == nil || embed.IsRetryable(err) {
			t.Errorf("Embed(%#v) = %v, %v; want a permanent error", in, v, err)
		}
	}
	// Only bad texts: each fails alone, nothing is sent.
	f.calls = nil
	vecs, err = r.Embed(context.Background(), []string{"", "\xff"})
	checkResultAllFailed(t, vecs, err, 2)
	if len(f.calls) != 0 {
		t.Errorf("sent %q", f.calls)
	}
}

func checkResultAllFailed(t *testing.T, vecs [][]float32, err error, n int) {
	t.Helper()
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != n || len(vecs) != n {
		t.Fatalf("Embed = %v, %v; want %d text errors", vecs, err, n)
	}
}

func TestRunnerIsolatesRejectedTexts(t *testing.T) {
	for _, bad := range [][]int{{0}, {7}, {63}, {3, 4}, {0, 31, 32, 63}, {10, 11, 12, 13, 14}} {
		f := &fakeSend{}
		r := newRunner(f, bigLimits, 64)
		in := texts(64, bad...)
		vecs, err := r.Embed(context.Background(), in)
		te := checkResult(t, in, vecs, err, bad...)
		for _, i := range bad {
			var ee *embed.Error
			if !errors.As(te[i], &ee) || ee.Retryable || ee.Status != 400 || !strings.Contains(ee.Msg, in[i]) {
				t.Errorf("bad %v: text %d error %v; want its own permanent 400", bad, i, te[i])
			}
		}
		// 1 request, 2 canaries, then about 2·log2(64) per rejected text.
		if max := 3 + 2*6*len(bad); f.requests() > max {
			t.Errorf("bad %v: %d requests, want at most %d", bad, f.requests(), max)
		}
		t.Logf("bad %v: %d requests", bad, f.requests())
	}
}

// One rejected text among 1,024 costs at most 2·log2(1024) requests (plus the batch and a
// canary), not 1,024.
func TestRunnerIsolationIsLogarithmic(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, Limits{MaxInputs: 2048, MaxBytes: 1 << 20, MaxTextBytes: 100}, 64)
	in := texts(1024, 777)
	vecs, err := r.Embed(context.Background(), in)
	checkResult(t, in, vecs, err, 777)
	if n := f.requests(); n > 1+1+2*10 {
		t.Errorf("%d requests to isolate one text among 1024", n)
	}
}

func TestRunnerRequestLevelRejection(t *testing.T) {
	// The server rejects every request (say, an unsupported "dimensions"): two canaries
	// rejected alone prove it, and the call fails as a whole after 3 requests.
	reject := &embed.Error{Embedder: "fake", Status: 400, Msg: "dimensions not supported"}
	f := &fakeSend{fail: func([]string) error { return reject }}
	r := newRunner(f, bigLimits, 64)
	vecs, err := r.Embed(context.Background(), texts(100))
	var ee *embed.Error
	if vecs != nil || !errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.Msg, "dimensions") {
		t.Fatalf("Embed = %v, %v; want the whole call failing with the rejection", vecs, err)
	}
	if f.requests() != 3 {
		t.Errorf("%d requests, want 3 (the batch and two canaries)", f.requests())
	}
}

func TestRunnerIsolationBudget(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, bigLimits, 4)
	in := texts(32, 5, 20)
	vecs, err := r.Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) {
		t.Fatalf("err = %v", err)
	}
	if f.requests() != 1+4 {
		t.Errorf("%d requests, want 5 (the batch and the budget of 4)", f.requests())
	}
	unisolated := 0
	for i, e := range te {
		var ee *embed.Error
		if !errors.As(e, &ee) {
			t.Fatalf("text %d: %v", i, e)
		}
		if ee.Retryable {
			unisolated++
			if !strings.Contains(ee.Msg, "not tried alone") {
				t.Errorf("text %d: %v", i, e)
			}
		}
		if vecs[i] != nil {
			t.Errorf("text %d failed with a vector", i)
		}
	}
	if unisolated == 0 {
		t.Error("no text reported as not isolated")
	}
	for _, b := range []int{5, 20} {
		if te[b] == nil {
			t.Errorf("rejected text %d has no error", b)
		}
	}
}

func TestRunnerIsolationOff(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, Limits{MaxInputs: 4, MaxBytes: 1 << 20, MaxTextBytes: 100}, 0)
	in := texts(8, 1)
	vecs, err := r.Embed(context.Background(), in)
	te := checkResult(t, in, vecs, err, 0, 1, 2, 3)
	if embed.IsRetryable(te[0]) || f.requests() != 2 {
		t.Errorf("error %v after %d requests; want the batch's permanent rejection after 2", te[0], f.requests())
	}
}

func TestRunnerGroupFailures(t *testing.T) {
	unavailable := &embed.Error{Embedder: "fake", Status: 503, Retryable: true, Msg: "overloaded"}
	f := &fakeSend{fail: func(texts []string) error {
		if slices.Contains(texts, "text 4") {
			return unavailable
		}
		return nil
	}}
	r := newRunner(f, Limits{MaxInputs: 3, MaxBytes: 1 << 20, MaxTextBytes: 100}, 64)
	in := texts(9)
	vecs, err := r.Embed(context.Background(), in)
	te := checkResult(t, in, vecs, err, 3, 4, 5)
	if !embed.IsRetryable(te[3]) {
		t.Errorf("text 3: %v, want the request's retryable error", te[3])
	}
	// When every request fails so, the whole call fails with the error.
	f.fail = func([]string) error { return unavailable }
	vecs, err = r.Embed(context.Background(), in)
	if vecs != nil || !errors.Is(err, unavailable) {
		t.Errorf("Embed = %v, %v; want the whole call failing with %v", vecs, err, unavailable)
	}
}

func TestRunnerFatalStopsTheCall(t *testing.T) {
	denied := &embed.Error{Embedder: "fake", Status: 401, Msg: "invalid API key"}
	var sent atomic.Int64
	f := &fakeSend{fail: func([]string) error {
		sent.Add(1)
		return denied
	}}
	r := newRunner(f, Limits{MaxInputs: 1, MaxBytes: 1 << 20, MaxTextBytes: 100}, 64)
	r.Workers = 1
	vecs, err := r.Embed(context.Background(), texts(50))
	if vecs != nil || !errors.Is(err, denied) {
		t.Fatalf("Embed = %v, %v; want %v", vecs, err, denied)
	}
	if sent.Load() != 1 {
		t.Errorf("%d requests after a 401, want 1", sent.Load())
	}
}

func TestRunnerDimensions(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, bigLimits, 0)
	if r.Dims.Get() != 0 {
		t.Fatal("dimension known before any answer")
	}
	if _, err := r.Embed(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if r.Dims.Get() != 2 {
		t.Errorf("learned dimension %d, want 2", r.Dims.Get())
	}
	r.Dims = &Dims{Want: 3}
	vecs, err := r.Embed(context.Background(), []string{"a", "b"})
	var ee *embed.Error
	if vecs != nil || !errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.Msg, "2-dimensional embeddings, want 3") {
		t.Errorf("Embed = %v, %v; want a permanent dimension error", vecs, err)
	}
}

func TestDimsCheck(t *testing.T) {
	d := &Dims{}
	for _, c := range []struct {
		vecs [][]float32
		want string
	}{
		{[][]float32{{1, 2}, {}}, "embedding 1 is empty"},
		{[][]float32{{1, 2}, {1, 2, 3}}, "different lengths"},
		{[][]float32{{1, 2}, {3, 4}}, ""},
		{[][]float32{{1, 2, 3}}, "earlier answers had 2"},
	} {
		if got := d.Check(c.vecs); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Check(%v) = %q, want %q", c.vecs, got, c.want)
		}
	}
}

func TestRunnerContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newRunner(&fakeSend{}, bigLimits, 0)
	if v, err := r.Embed(ctx, []string{"a"}); v != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Embed(canceled) = %v, %v", v, err)
	}
	// Canceled during the call: the call returns the context's error, not partial results.
	ctx, cancel = context.WithCancel(context.Background())
	f := &fakeSend{fail: func(texts []string) error {
		if texts[0] == "text 2" {
			cancel()
			return context.Canceled
		}
		return nil
	}}
	r = newRunner(f, Limits{MaxInputs: 1, MaxBytes: 100, MaxTextBytes: 100}, 0)
	r.Workers = 1
	if v, err := r.Embed(ctx, texts(10)); v != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Embed(canceled midway) = %v, %v", v, err)
	}
}

func TestRunnerConcurrentCalls(t *testing.T) {
	f := &fakeSend{}
	r := newRunner(f, Limits{MaxInputs: 2, MaxBytes: 100, MaxTextBytes: 100}, 16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			in := texts(20, g)
			vecs, err := r.Embed(context.Background(), in)
			checkResult(t, in, vecs, err, g)
		})
	}
	wg.Wait()
}
