package ollama

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram/embed"
)

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("note %d: the meeting moved to room %d", i, i%5)
	}
	return out
}

func checkVectors(t *testing.T, dim int, in []string, vecs [][]float32, failed ...int) {
	t.Helper()
	if len(vecs) != len(in) {
		t.Fatalf("%d vectors for %d texts", len(vecs), len(in))
	}
	for i, text := range in {
		if slices.Contains(failed, i) {
			if vecs[i] != nil {
				t.Errorf("failed text %d has a vector", i)
			}
			continue
		}
		if !slices.Equal(vecs[i], want(t, dim, text)) {
			t.Fatalf("text %d: wrong vector", i)
		}
	}
}

func TestEmbed(t *testing.T) {
	s := newServer(t, 12)
	e := s.embedder(t, &clock{})
	in := texts(4)
	vecs, err := e.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 12, in, vecs)
	r := s.requests()[0]
	if r.path != "/api/embed" || r.req.Model != "nomic-embed-text" || !slices.Equal(r.req.Input, in) {
		t.Errorf("request %s %+v", r.path, r.req)
	}
	// Only documented fields, and the optional ones only when set.
	for k := range r.raw {
		if k != "model" && k != "input" {
			t.Errorf("request sent %q unasked", k)
		}
	}
	if e.Name() != "ollama:nomic-embed-text:latest" || e.Dimension() != 12 {
		t.Errorf("Name() = %q, Dimension() = %d", e.Name(), e.Dimension())
	}
}

func TestRequestParameters(t *testing.T) {
	s := newServer(t, 12)
	e := s.embedder(t, &clock{}, WithModel("mxbai-embed-large:335m"), WithTruncate(false), WithKeepAlive(10*time.Minute),
		WithModelOptions(map[string]any{"num_ctx": 4096}), WithDimensions(8))
	if e.Name() != "ollama:mxbai-embed-large:335m;dim=8" || e.Dimension() != 8 {
		t.Errorf("Name() = %q, Dimension() = %d", e.Name(), e.Dimension())
	}
	vecs, err := e.Embed(context.Background(), []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 8, []string{"x"}, vecs)
	raw := s.requests()[0].raw
	for k, v := range map[string]string{"model": `"mxbai-embed-large:335m"`, "truncate": "false", "keep_alive": `"10m0s"`,
		"options": `{"num_ctx":4096}`, "dimensions": "8"} {
		if string(raw[k]) != v {
			t.Errorf("%s = %s, want %s", k, raw[k], v)
		}
	}
}

func TestSplitsLargeCalls(t *testing.T) {
	s := newServer(t, 4)
	e := s.embedder(t, &clock{}, WithMaxInputs(4))
	in := texts(10)
	vecs, err := e.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 4, in, vecs)
	var sizes []int
	for _, r := range s.requests() {
		sizes = append(sizes, len(r.req.Input))
	}
	slices.Sort(sizes)
	if fmt.Sprint(sizes) != "[2 4 4]" {
		t.Errorf("request sizes %v", sizes)
	}
}

func TestErrorAnswers(t *testing.T) {
	for _, c := range []struct {
		name      string
		status    int
		body      string
		retryable bool
		wantMsg   string
		requests  int
	}{
		{"unknown model", 404, errorBody(`model "nomic-embed-tex" not found, try pulling it first`), false, "not found, try pulling it first", 1},
		{"not an embedding model", 400, errorBody(`"llama3.2" does not support embeddings`), false, "does not support embeddings", 3},
		{"server error", 500, errorBody("llama runner process has terminated: signal: killed"), true, "llama runner process has terminated", 2},
		{"cloud model unreachable", 502, errorBody("bad gateway"), true, "bad gateway", 2},
		{"plain text", 503, "Service Unavailable", true, "Service Unavailable", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, 4)
			s.setAnswer(func(int, request) (int, http.Header, string, bool) { return c.status, nil, c.body, true })
			vecs, err := s.embedder(t, &clock{}, WithRetry(1, time.Millisecond, time.Second)).Embed(context.Background(), texts(3))
			var ee *embed.Error
			if vecs != nil || !errors.As(err, &ee) {
				t.Fatalf("Embed = %v, %v; want the whole call failing", vecs, err)
			}
			if ee.Status != c.status || ee.Retryable != c.retryable || ee.Embedder != "ollama" || !strings.Contains(ee.Msg, c.wantMsg) {
				t.Errorf("error %#v; want status %d, retryable %v, message with %q", ee, c.status, c.retryable, c.wantMsg)
			}
			// A 400 for every request: the request and two canaries, then the call fails.
			if n := len(s.requests()); n != c.requests {
				t.Errorf("%d requests, want %d", n, c.requests)
			}
		})
	}
}

func Test429WithRetryAfter(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		if n == 0 {
			return 429, http.Header{"Retry-After": {"3"}}, errorBody("too many requests"), true
		}
		return 0, nil, "", false
	})
	ck := &clock{}
	vecs, err := s.embedder(t, ck).Embed(context.Background(), texts(2))
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 4, texts(2), vecs)
	if got := ck.slept(); len(got) != 1 || got[0] != 3*time.Second {
		t.Errorf("pauses %v, want [3s]", got)
	}
}

func Test500ThenSuccessAndExhaustion(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		if n == 0 {
			return 500, nil, errorBody("failed to load model"), true
		}
		return 0, nil, "", false
	})
	ck := &clock{}
	if _, err := s.embedder(t, ck).Embed(context.Background(), texts(2)); err != nil {
		t.Fatal(err)
	}
	if len(s.requests()) != 2 || len(ck.slept()) != 1 {
		t.Errorf("%d requests, %d pauses", len(s.requests()), len(ck.slept()))
	}
	s.setAnswer(func(int, request) (int, http.Header, string, bool) { return 500, nil, errorBody("out of memory"), true })
	_, err := s.embedder(t, &clock{}, WithRetry(3, time.Millisecond, time.Second)).Embed(context.Background(), texts(2))
	var ee *embed.Error
	if !errors.As(err, &ee) || !ee.Retryable || !strings.Contains(ee.Msg, "out of memory") || !strings.Contains(ee.Msg, "gave up after 4 attempts") {
		t.Errorf("err = %v", err)
	}
}

func TestMalformedAnswers(t *testing.T) {
	for _, c := range []struct{ name, body, wantMsg string }{
		{"truncated JSON", `{"model":"m","embeddings":[[0.1,0.2],[0.3`, "malformed JSON"},
		{"no embeddings", `{"model":"m"}`, `no "embeddings"`},
		{"200 with an error", `{"error":"an error was encountered while running the model"}`, "an error was encountered"},
		{"too few vectors", `{"embeddings":[[1,2]]}`, "1 embeddings for 2 inputs"},
		{"too many vectors", `{"embeddings":[[1,2],[1,2],[1,2]]}`, "3 embeddings for 2 inputs"},
		{"different lengths", `{"embeddings":[[1,2],[1,2,3]]}`, "different lengths"},
		{"NaN", `{"embeddings":[[NaN,1],[1,2]]}`, "malformed JSON"},
		{"too big for float32", `{"embeddings":[[1,-5e38],[1,2]]}`, "embedding 0: component 1 is -5e38, beyond float32's range"},
		{"too big for float64", `{"embeddings":[[1e999,1],[1,2]]}`, "embedding 0: component 0 is 1e999, beyond float32's range"},
		{"empty vector", `{"embeddings":[[],[1,2]]}`, "embedding 0: empty vector"},
		{"not an array", `{"embeddings":[null,[1,2]]}`, "embedding 0 is not an array"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, 2)
			s.setAnswer(func(int, request) (int, http.Header, string, bool) { return 200, nil, c.body, true })
			vecs, err := s.embedder(t, &clock{}).Embed(context.Background(), []string{"a", "b"})
			var ee *embed.Error
			if vecs != nil || !errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.Msg, c.wantMsg) {
				t.Fatalf("Embed = %v, %v; want a permanent error with %q", vecs, err, c.wantMsg)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("%d requests; a malformed answer must not be retried", n)
			}
		})
	}
}

func TestWrongDimensionsAcrossBatches(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		if n == 1 {
			req.Dimensions = 5
			return 200, nil, s.success(req), true
		}
		return 0, nil, "", false
	})
	e := s.embedder(t, &clock{}, WithMaxInputs(2), WithConcurrency(1))
	in := texts(4)
	vecs, err := e.Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != 2 || !strings.Contains(te[2].Error(), "5-dimensional embeddings, earlier answers had 4") {
		t.Fatalf("err = %v", err)
	}
	checkVectors(t, 4, in, vecs, 2, 3)
	// A declared dimension is enforced from the first answer.
	s.setAnswer(nil)
	_, err = s.embedder(t, &clock{}, WithExpectedDimension(768)).Embed(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "4-dimensional embeddings, want 768") {
		t.Errorf("err = %v", err)
	}
}

func TestDeadlineAndCancel(t *testing.T) {
	s := newServer(t, 4)
	s.slow = 10 * time.Second // a model that takes forever to load
	arrived := make(chan struct{}, 1)
	s.arrived = arrived
	tr := &http.Transport{}
	e := s.embedder(t, &clock{}, WithHTTPClient(&http.Client{Transport: tr}), WithMaxInputs(1))
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if vecs, err := e.Embed(ctx, texts(3)); vecs != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Embed = %v, %v; want context.DeadlineExceeded", vecs, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned after %v; the deadline was 30ms", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	select { // drop the first call's notice, if it came
	case <-arrived:
	default:
	}
	go func() {
		<-arrived
		cancel()
	}()
	if vecs, err := e.Embed(ctx, texts(8)); vecs != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Embed = %v, %v; want context.Canceled", vecs, err)
	}
	tr.CloseIdleConnections()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > base; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
	}
}

// With truncate off, Ollama rejects an input longer than the model's context with a 400:
// the other texts are embedded and the long ones fail alone.
func TestRejectedTextsAreIsolated(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		for _, in := range req.Input {
			if len(in) > 200 {
				return 400, nil, errorBody("the input length exceeds the context length"), true
			}
		}
		return 0, nil, "", false
	})
	in := texts(30)
	in[0] = strings.Repeat("x ", 150)
	in[17] = strings.Repeat("y ", 150)
	in[18] = strings.Repeat("z ", 150)
	vecs, err := s.embedder(t, &clock{}, WithTruncate(false)).Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != 3 {
		t.Fatalf("err = %v", err)
	}
	for _, i := range []int{0, 17, 18} {
		var ee *embed.Error
		if !errors.As(te[i], &ee) || ee.Retryable || ee.Status != 400 || !strings.Contains(ee.Msg, "exceeds the context length") {
			t.Errorf("text %d: %v", i, te[i])
		}
	}
	checkVectors(t, 4, in, vecs, 0, 17, 18)
}

func TestConcurrencyBound(t *testing.T) {
	s := newServer(t, 4)
	gate := make(chan struct{})
	closed := false
	s.setAnswer(func(int, request) (int, http.Header, string, bool) {
		s.mu.Lock()
		if s.inflight.Load() == 2 && !closed {
			closed = true
			close(gate)
		}
		s.mu.Unlock()
		select {
		case <-gate:
		case <-time.After(2 * time.Second):
		}
		return 0, nil, "", false
	})
	e := s.embedder(t, &clock{}, WithMaxInputs(1)) // the default bound: 2
	if _, err := e.Embed(context.Background(), texts(8)); err != nil {
		t.Fatal(err)
	}
	if p := s.peak.Load(); p != DefaultConcurrency {
		t.Errorf("peak requests in flight %d, want %d", p, DefaultConcurrency)
	}
}

func TestBadInput(t *testing.T) {
	s := newServer(t, 4)
	e := s.embedder(t, &clock{}, WithMaxTextBytes(40))
	for _, in := range [][]string{nil, {}} {
		if vecs, err := e.Embed(context.Background(), in); vecs != nil || err == nil || embed.IsRetryable(err) {
			t.Errorf("Embed(%#v) = %v, %v", in, vecs, err)
		}
	}
	in := []string{"", "ok", "\xc3\x28", strings.Repeat("z", 41)}
	vecs, err := e.Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != 3 {
		t.Fatalf("err = %v", err)
	}
	checkVectors(t, 4, in, vecs, 0, 2, 3)
	if got := s.requests()[0].req.Input; !slices.Equal(got, []string{"ok"}) {
		t.Errorf("sent %q", got)
	}
}

func TestOptions(t *testing.T) {
	for name, o := range map[string]Option{
		"empty model":       WithModel(""),
		"bad base":          WithBaseURL("localhost:11434"),
		"key with newline":  WithAPIKey("a\nb"),
		"bad header":        WithHeader("", "v"),
		"zero dimensions":   WithDimensions(0),
		"zero expected":     WithExpectedDimension(-3),
		"zero inputs":       WithMaxInputs(0),
		"zero bytes":        WithMaxRequestBytes(0),
		"zero text bytes":   WithMaxTextBytes(0),
		"zero concurrency":  WithConcurrency(0),
		"bad retry":         WithRetry(2, time.Second, 0),
		"negative timeout":  WithRequestTimeout(-1),
		"negative budget":   WithIsolationBudget(-2),
		"nil client":        WithHTTPClient(nil),
		"unmarshalable opt": WithModelOptions(map[string]any{"f": func() {}}),
	} {
		e, err := New(o)
		var oe *embed.OptionError
		if e != nil || !errors.Is(err, embed.ErrInvalidOption) || !errors.As(err, &oe) || oe.Embedder != "ollama" {
			t.Errorf("%s: New = %v, %v; want an *embed.OptionError", name, e, err)
		}
	}
}

func TestHostAndKeyFromEnvironment(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "http://127.0.0.1:11434",
		"0.0.0.0":                    "http://0.0.0.0:11434",
		":11500":                     "http://127.0.0.1:11500",
		"gpu-box":                    "http://gpu-box:11434",
		"gpu-box:8080":               "http://gpu-box:8080",
		"http://10.0.0.5:11434/":     "http://10.0.0.5:11434",
		"https://ollama.example.com": "https://ollama.example.com",
		"[::1]:11434":                "http://[::1]:11434",
		"http://proxy/ollama":        "http://proxy:11434/ollama",
	} {
		if got := hostURL(in); got != want {
			t.Errorf("hostURL(%q) = %q, want %q", in, got, want)
		}
	}
	s := newServer(t, 2)
	t.Setenv("OLLAMA_HOST", s.srv.URL)
	t.Setenv("OLLAMA_API_KEY", "ollama-key")
	e, err := New(withClock(&clock{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if h := s.requests()[0].header.Get("Authorization"); h != "Bearer ollama-key" {
		t.Errorf("Authorization = %q", h)
	}
	t.Setenv("OLLAMA_HOST", "http://[bad")
	if _, err := New(); !errors.Is(err, embed.ErrInvalidOption) {
		t.Errorf("a bad OLLAMA_HOST: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("OLLAMA_HOST", "")
	t.Setenv("OLLAMA_API_KEY", "")
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if e.client.URL != "http://127.0.0.1:11434/api/embed" || e.client.Header.Get("Authorization") != "" || e.Dimension() != 0 {
		t.Errorf("URL %s, headers %v, dimension %d", e.client.URL, e.client.Header, e.Dimension())
	}
	for in, want := range map[string]string{
		"nomic-embed-text":                 "nomic-embed-text:latest",
		"nomic-embed-text:v1.5":            "nomic-embed-text:v1.5",
		"library/bge-m3":                   "library/bge-m3:latest",
		"registry.local:5000/team/e5":      "registry.local:5000/team/e5:latest",
		"registry.local:5000/team/e5:q4_0": "registry.local:5000/team/e5:q4_0",
	} {
		if got := canonicalModel(in); got != want {
			t.Errorf("canonicalModel(%q) = %q, want %q", in, got, want)
		}
	}
}
