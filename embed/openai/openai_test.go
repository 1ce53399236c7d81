package openai

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
		out[i] = fmt.Sprintf("memory number %d about topic %d", i, i%7)
	}
	return out
}

// checkVectors asserts that every text not in failed has the fake server's vector.
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
			t.Fatalf("text %d: wrong vector (reassembly by index broken?)", i)
		}
	}
}

func TestEmbed(t *testing.T) {
	s := newServer(t, 16)
	e := s.embedder(t, &clock{}, WithModel("text-embedding-3-large"))
	in := texts(5)
	vecs, err := e.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 16, in, vecs)
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.url != "/v1/embeddings" || r.req.Model != "text-embedding-3-large" || !slices.Equal(r.req.Input, in) ||
		r.req.Dimensions != 0 || r.req.EncodingFormat != "" {
		t.Errorf("request %s %+v", r.url, r.req)
	}
	if r.header.Get("Authorization") != "Bearer sk-test" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.header)
	}
	if e.Dimension() != 16 {
		t.Errorf("Dimension() = %d after the first answer, want 16", e.Dimension())
	}
	if e.Name() != "openai:text-embedding-3-large" {
		t.Errorf("Name() = %q", e.Name())
	}
}

func TestEmbedSplitsLargeCalls(t *testing.T) {
	s := newServer(t, 8)
	e := s.embedder(t, &clock{}, WithMaxInputs(3))
	in := texts(10)
	vecs, err := e.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 8, in, vecs)
	var sizes []int
	var got []string
	for _, r := range s.requests() {
		sizes = append(sizes, len(r.req.Input))
		got = append(got, r.req.Input...)
	}
	slices.Sort(sizes)
	slices.Sort(got)
	sorted := slices.Sorted(slices.Values(in))
	if fmt.Sprint(sizes) != "[1 3 3 3]" || !slices.Equal(got, sorted) {
		t.Errorf("request sizes %v, want [1 3 3 3], each text sent once", sizes)
	}

	// The byte budget splits too.
	s2 := newServer(t, 8)
	e2 := s2.embedder(t, &clock{}, WithMaxRequestBytes(100))
	long := []string{strings.Repeat("a", 60), strings.Repeat("b", 60), strings.Repeat("c", 30), "d"}
	vecs, err = e2.Embed(context.Background(), long)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 8, long, vecs)
	if n := len(s2.requests()); n != 2 {
		t.Errorf("%d requests for 151 bytes with a budget of 100, want 2", n)
	}
}

func TestDimensions(t *testing.T) {
	s := newServer(t, 16)
	e := s.embedder(t, &clock{}, WithDimensions(8))
	if e.Dimension() != 8 || e.Name() != "openai:text-embedding-3-small;dim=8" {
		t.Errorf("Dimension() = %d, Name() = %q", e.Dimension(), e.Name())
	}
	vecs, err := e.Embed(context.Background(), []string{"a text"})
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 8, []string{"a text"}, vecs)
	if d := s.requests()[0].req.Dimensions; d != 8 {
		t.Errorf(`request "dimensions" = %d, want 8`, d)
	}
	// A server that ignores "dimensions" is caught.
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		req.Dimensions = 0
		return 200, nil, s.success(req), true
	})
	_, err = e.Embed(context.Background(), []string{"a text", "another"})
	var ee *embed.Error
	if !errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.Msg, "16-dimensional embeddings, want 8") {
		t.Errorf("err = %v, want a permanent dimension error", err)
	}
	// WithExpectedDimension checks without sending.
	s.setAnswer(nil)
	e = s.embedder(t, &clock{}, WithExpectedDimension(16))
	if e.Dimension() != 16 || e.Name() != "openai:text-embedding-3-small" {
		t.Errorf("Dimension() = %d, Name() = %q", e.Dimension(), e.Name())
	}
	if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if d := s.requests()[len(s.requests())-1].req.Dimensions; d != 0 {
		t.Errorf(`WithExpectedDimension sent "dimensions" %d`, d)
	}
	if _, err := New(WithDimensions(8), WithExpectedDimension(16)); !errors.Is(err, embed.ErrInvalidOption) {
		t.Errorf("contradicting dimensions: %v", err)
	}
}

func TestBase64(t *testing.T) {
	s := newServer(t, 32)
	e := s.embedder(t, &clock{}, WithBase64(true))
	in := texts(4)
	vecs, err := e.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 32, in, vecs)
	if f := s.requests()[0].req.EncodingFormat; f != "base64" {
		t.Errorf(`"encoding_format" = %q`, f)
	}
}

func TestErrorBodies(t *testing.T) {
	for _, c := range []struct {
		name      string
		status    int
		body      string
		retryable bool
		wantMsg   string
	}{
		{"bad key", 401, errorBody("Incorrect API key provided: sk-test.", "invalid_request_error", "", `"invalid_api_key"`), false,
			"Incorrect API key provided: sk-test. (type invalid_request_error, code invalid_api_key)"},
		{"unknown model", 404, errorBody("The model `nope` does not exist", "invalid_request_error", "model", `"model_not_found"`), false,
			"The model `nope` does not exist (type invalid_request_error, code model_not_found, param model)"},
		{"out of credit", 429, errorBody("You exceeded your current quota", "insufficient_quota", "", `"insufficient_quota"`), false,
			"You exceeded your current quota"},
		{"vLLM style", 404, `{"object":"error","message":"The model does not exist.","type":"NotFoundError","param":null,"code":404}`, false,
			"The model does not exist. (type NotFoundError, code 404)"},
		{"plain string", 403, `{"error":"forbidden by policy"}`, false, "forbidden by policy"},
		{"HTML from a proxy", 502, "<html><body>Bad Gateway</body></html>", true, "<html><body>Bad Gateway</body></html>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, 4)
			s.setAnswer(func(int, request) (int, http.Header, string, bool) { return c.status, nil, c.body, true })
			e := s.embedder(t, &clock{}, WithRetry(1, time.Millisecond, time.Second))
			vecs, err := e.Embed(context.Background(), texts(3))
			var ee *embed.Error
			if vecs != nil || !errors.As(err, &ee) {
				t.Fatalf("Embed = %v, %v; want the whole call failing with an *embed.Error", vecs, err)
			}
			if ee.Status != c.status || ee.Retryable != c.retryable || ee.Embedder != "openai" || !strings.Contains(ee.Msg, c.wantMsg) {
				t.Errorf("error %#v\nwant status %d, retryable %v, message with %q", ee, c.status, c.retryable, c.wantMsg)
			}
			wantReqs := 1
			if c.retryable {
				wantReqs = 2
			}
			if n := len(s.requests()); n != wantReqs {
				t.Errorf("%d requests, want %d", n, wantReqs)
			}
		})
	}
}

func Test429RetryAfterIsHonoured(t *testing.T) {
	for _, c := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Retry-After", http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{"retry-after-ms", http.Header{"Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond},
		{"x-ratelimit-reset-tokens", http.Header{
			"X-Ratelimit-Remaining-Requests": {"12"}, "X-Ratelimit-Reset-Requests": {"1s"},
			"X-Ratelimit-Remaining-Tokens": {"0"}, "X-Ratelimit-Reset-Tokens": {"6.5s"},
		}, 6500 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, 4)
			s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
				if n == 0 {
					return 429, c.header, errorBody("Rate limit reached for requests", "requests", "", `"rate_limit_exceeded"`), true
				}
				return 0, nil, "", false
			})
			ck := &clock{}
			e := s.embedder(t, ck)
			in := texts(2)
			vecs, err := e.Embed(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, 4, in, vecs)
			if got := ck.slept(); len(got) != 1 || got[0] != c.want {
				t.Errorf("pauses %v, want [%v]", got, c.want)
			}
		})
	}
}

func Test500ThenSuccess(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		if n < 2 {
			return 500, nil, errorBody("The server had an error while processing your request.", "server_error", "", "null"), true
		}
		return 0, nil, "", false
	})
	ck := &clock{}
	vecs, err := s.embedder(t, ck).Embed(context.Background(), texts(3))
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, 4, texts(3), vecs)
	if len(s.requests()) != 3 || len(ck.slept()) != 2 {
		t.Errorf("%d requests, %d pauses; want 3 and 2", len(s.requests()), len(ck.slept()))
	}
}

func TestRetriesExhausted(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(int, request) (int, http.Header, string, bool) {
		return 503, http.Header{"Retry-After": {"2"}}, errorBody("The engine is currently overloaded", "server_error", "", "null"), true
	})
	ck := &clock{}
	_, err := s.embedder(t, ck, WithRetry(2, time.Second, 10*time.Second)).Embed(context.Background(), texts(2))
	var ee *embed.Error
	if !errors.As(err, &ee) || !ee.Retryable || ee.Status != 503 || ee.RetryAfter != 2*time.Second ||
		!strings.Contains(ee.Msg, "overloaded") || !strings.Contains(ee.Msg, "gave up after 3 attempts") {
		t.Fatalf("err = %v, want a retryable 503 with RetryAfter 2s after 3 attempts", err)
	}
	if !embed.IsRetryable(err) || embed.RetryAfterOf(err) != 2*time.Second {
		t.Errorf("IsRetryable = %v, RetryAfterOf = %v", embed.IsRetryable(err), embed.RetryAfterOf(err))
	}
	if got := ck.slept(); len(got) != 2 || got[0] != 2*time.Second || got[1] != 2*time.Second {
		t.Errorf("pauses %v, want [2s 2s]", got)
	}
}

func TestMalformedAnswers(t *testing.T) {
	two := []string{"first", "second"}
	for _, c := range []struct {
		name, body, wantMsg string
	}{
		{"truncated JSON", `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2`, "malformed JSON"},
		{"not JSON", `Internal error`, "malformed JSON"},
		{"no data", `{"object":"list","model":"m"}`, `no "data"`},
		{"200 with an error", `{"error":{"message":"something broke","type":"server_error"}}`, "something broke"},
		{"too few vectors", `{"data":[{"index":0,"embedding":[1,2]}]}`, "1 embeddings for 2 inputs"},
		{"too many vectors", `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2]},{"index":2,"embedding":[1,2]}]}`, "3 embeddings for 2 inputs"},
		{"different lengths", `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]}`, "different lengths"},
		{"index out of range", `{"data":[{"index":0,"embedding":[1,2]},{"index":2,"embedding":[1,2]}]}`, "index 2 is outside 0..1"},
		{"duplicate index", `{"data":[{"index":1,"embedding":[1,2]},{"index":1,"embedding":[1,2]}]}`, "index 1 appears twice"},
		{"some indexes missing", `{"data":[{"index":1,"embedding":[1,2]},{"embedding":[1,2]}]}`, `1 of 2 embeddings have an "index"`},
		{"NaN", `{"data":[{"index":0,"embedding":[NaN,1]},{"index":1,"embedding":[1,2]}]}`, "malformed JSON"},
		{"too big for float32", `{"data":[{"index":0,"embedding":[1e39,1]},{"index":1,"embedding":[1,2]}]}`, "embedding 0: component 0 is 1e39, beyond float32's range"},
		{"too big for float64", `{"data":[{"index":0,"embedding":[1e400,1]},{"index":1,"embedding":[1,2]}]}`, "embedding 0: component 0 is 1e400, beyond float32's range"},
		{"empty vector", `{"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[1,2]}]}`, "embedding 0: empty vector"},
		{"null vector", `{"data":[{"index":0,"embedding":null},{"index":1,"embedding":[1,2]}]}`, "embedding 0: missing"},
		{"bad base64", `{"data":[{"index":0,"embedding":"!!"},{"index":1,"embedding":[1,2]}]}`, "invalid base64"},
		{"strings", `{"data":[{"index":0,"embedding":["1","2"]},{"index":1,"embedding":[1,2]}]}`, "embedding 0:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t, 2)
			s.setAnswer(func(int, request) (int, http.Header, string, bool) { return 200, nil, c.body, true })
			vecs, err := s.embedder(t, &clock{}).Embed(context.Background(), two)
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

// A server that omits "index" lists the embeddings in input order.
func TestAnswerWithoutIndexes(t *testing.T) {
	s := newServer(t, 2)
	s.setAnswer(func(int, request) (int, http.Header, string, bool) {
		return 200, nil, `{"data":[{"embedding":[1,0]},{"embedding":[0,1]}]}`, true
	})
	vecs, err := s.embedder(t, &clock{}).Embed(context.Background(), []string{"a", "b"})
	if err != nil || !slices.Equal(vecs[0], []float32{1, 0}) || !slices.Equal(vecs[1], []float32{0, 1}) {
		t.Errorf("Embed = %v, %v", vecs, err)
	}
}

// One batch's bad answer fails only that batch's texts; the dimension learned from the
// first answer is enforced on later ones.
func TestInconsistentDimensionsAcrossBatches(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		if slices.Contains(req.Input, "odd one") {
			req.Dimensions = 6 // this answer has 6 dimensions
			return 200, nil, s.success(req), true
		}
		return 0, nil, "", false
	})
	e := s.embedder(t, &clock{}, WithMaxInputs(2), WithConcurrency(1))
	in := []string{"a", "b", "c", "odd one"}
	vecs, err := e.Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != 2 || te[2] == nil || te[3] == nil {
		t.Fatalf("err = %v, want the second batch's texts failing", err)
	}
	if !strings.Contains(te[3].Error(), "6-dimensional embeddings, earlier answers had 4") {
		t.Errorf("error %v", te[3])
	}
	checkVectors(t, 4, in, vecs, 2, 3)
}

func TestSlowAnswerAndDeadline(t *testing.T) {
	s := newServer(t, 4)
	s.slow = 10 * time.Second // longer than the caller waits
	e, tr := leakCheckedEmbedder(t, s)
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	vecs, err := e.Embed(ctx, texts(3))
	if vecs != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Embed = %v, %v; want context.DeadlineExceeded", vecs, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("returned after %v; the deadline was 30ms", d)
	}
	tr.CloseIdleConnections()
	noLeak(t, base)
}

func TestCanceledCall(t *testing.T) {
	s := newServer(t, 4)
	s.slow = 10 * time.Second
	arrived := make(chan struct{}, 1)
	s.arrived = arrived
	e, tr := leakCheckedEmbedder(t, s, WithMaxInputs(1), WithConcurrency(4))
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	vecs, err := e.Embed(ctx, texts(20))
	if vecs != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Embed = %v, %v; want context.Canceled", vecs, err)
	}
	tr.CloseIdleConnections()
	noLeak(t, base)
}

// leakCheckedEmbedder uses its own transport, so that its idle connections can be closed
// before counting goroutines.
func leakCheckedEmbedder(t *testing.T, s *fakeServer, opts ...Option) (*Embedder, *http.Transport) {
	tr := &http.Transport{}
	return s.embedder(t, &clock{}, append(opts, WithHTTPClient(&http.Client{Transport: tr}))...), tr
}

// noLeak waits (up to 5s) for the goroutine count to come back to base.
func noLeak(t *testing.T, base int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if runtime.NumGoroutine() <= base {
			return
		}
	}
	buf := make([]byte, 1<<16)
	t.Errorf("%d goroutines, %d before the call:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
}

// The server rejects (400) any request holding a text that is too long for it: the other
// texts are embedded, the long ones fail alone with the server's message.
func TestRejectedTextsAreIsolated(t *testing.T) {
	s := newServer(t, 4)
	s.setAnswer(func(n int, req request) (int, http.Header, string, bool) {
		for _, in := range req.Input {
			if len(in) > 100 {
				return 400, nil, errorBody(fmt.Sprintf("This model's maximum context length is 8192 tokens, however you requested %d tokens", len(in)*10),
					"invalid_request_error", "input", "null"), true
			}
		}
		return 0, nil, "", false
	})
	in := texts(40)
	in[9] = strings.Repeat("long ", 30)
	in[30] = strings.Repeat("longer ", 40)
	vecs, err := s.embedder(t, &clock{}).Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != 2 {
		t.Fatalf("err = %v, want TextErrors for texts 9 and 30", err)
	}
	for _, i := range []int{9, 30} {
		var ee *embed.Error
		if !errors.As(te[i], &ee) || ee.Retryable || ee.Status != 400 || !strings.Contains(ee.Msg, fmt.Sprintf("you requested %d tokens", len(in[i])*10)) {
			t.Errorf("text %d: %v, want its own 400", i, te[i])
		}
	}
	checkVectors(t, 4, in, vecs, 9, 30)
	t.Logf("%d requests", len(s.requests()))
}

func TestConcurrencyBound(t *testing.T) {
	s := newServer(t, 4)
	gate := make(chan struct{})
	var once bool
	s.setAnswer(func(int, request) (int, http.Header, string, bool) {
		s.mu.Lock()
		if s.inflight.Load() == 3 && !once {
			once = true
			close(gate)
		}
		s.mu.Unlock()
		select {
		case <-gate:
		case <-time.After(2 * time.Second): // the bound was never reached: the check below fails
		}
		return 0, nil, "", false
	})
	e := s.embedder(t, &clock{}, WithMaxInputs(1), WithConcurrency(3))
	done := make(chan error, 2)
	for range 2 { // two concurrent calls share the bound
		go func() {
			_, err := e.Embed(context.Background(), texts(9))
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if p := s.peak.Load(); p != 3 {
		t.Errorf("peak requests in flight %d, want 3", p)
	}
}

func TestBadInput(t *testing.T) {
	s := newServer(t, 4)
	e := s.embedder(t, &clock{}, WithMaxTextBytes(50))
	for _, in := range [][]string{nil, {}} {
		vecs, err := e.Embed(context.Background(), in)
		var ee *embed.Error
		if vecs != nil || !errors.As(err, &ee) || ee.Retryable {
			t.Errorf("Embed(%#v) = %v, %v; want a permanent *embed.Error", in, vecs, err)
		}
	}
	in := []string{"fine", "", "caf\xe9", strings.Repeat("x", 51), "also fine"}
	vecs, err := e.Embed(context.Background(), in)
	var te embed.TextErrors
	if !errors.As(err, &te) || len(te) != 3 {
		t.Fatalf("err = %v", err)
	}
	checkVectors(t, 4, in, vecs, 1, 2, 3)
	if got := s.requests()[0].req.Input; !slices.Equal(got, []string{"fine", "also fine"}) {
		t.Errorf("sent %q; bad texts must not be sent", got)
	}
}

func TestOptions(t *testing.T) {
	for name, o := range map[string]Option{
		"empty model":         WithModel(""),
		"control in model":    WithModel("a\nb"),
		"ftp base":            WithBaseURL("ftp://example.com"),
		"base without host":   WithBaseURL("http://"),
		"base with query":     WithBaseURL("http://h/v1?x=1"),
		"relative endpoint":   WithEndpoint("/v1/embeddings"),
		"key with newline":    WithAPIKey("sk\r\nX-Evil: 1"),
		"empty azure key":     WithAzureAPIKey(""),
		"bad header name":     WithHeader("Bad Header", "v"),
		"bad header value":    WithHeader("X-Ok", "a\nb"),
		"zero dimensions":     WithDimensions(0),
		"zero expected":       WithExpectedDimension(0),
		"zero inputs":         WithMaxInputs(0),
		"zero request bytes":  WithMaxRequestBytes(0),
		"zero text bytes":     WithMaxTextBytes(-1),
		"zero concurrency":    WithConcurrency(0),
		"negative retries":    WithRetry(-1, time.Second, time.Second),
		"zero base delay":     WithRetry(1, 0, time.Second),
		"max below base":      WithRetry(1, time.Second, time.Millisecond),
		"negative timeout":    WithRequestTimeout(-time.Second),
		"negative isolation":  WithIsolationBudget(-1),
		"nil HTTP client":     WithHTTPClient(nil),
		"huge dimensions":     WithDimensions(1 << 20),
		"huge concurrency":    WithConcurrency(5000),
		"too many retries":    WithRetry(1000, time.Second, time.Second),
		"base is not a URL":   WithBaseURL("://"),
		"endpoint not a URL":  WithEndpoint("http://[::1"),
		"endpoint wrong kind": WithEndpoint("file:///etc/passwd"),
	} {
		e, err := New(o)
		var oe *embed.OptionError
		if e != nil || !errors.Is(err, embed.ErrInvalidOption) || !errors.As(err, &oe) || oe.Embedder != "openai" {
			t.Errorf("%s: New = %v, %v; want an *embed.OptionError", name, e, err)
		}
	}
	if _, err := New(nil); err != nil {
		t.Errorf("New(nil): %v", err)
	}
}

func TestEndpointsAndKeys(t *testing.T) {
	s := newServer(t, 2)
	check := func(name string, opts []Option, wantURL string, wantHeader map[string]string) {
		t.Helper()
		e, err := New(append([]Option{withClock(&clock{})}, opts...)...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := e.Embed(context.Background(), []string{"x"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reqs := s.requests()
		r := reqs[len(reqs)-1]
		if r.url != wantURL {
			t.Errorf("%s: posted to %s, want %s", name, r.url, wantURL)
		}
		for k, v := range wantHeader {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", name, k, got, v)
			}
		}
	}
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	check("base with /v1", []Option{WithBaseURL(s.srv.URL + "/v1/")}, "/v1/embeddings", map[string]string{"Authorization": "Bearer sk-from-env"})
	check("base without /v1", []Option{WithBaseURL(s.srv.URL)}, "/v1/embeddings", nil)
	check("base with a prefix", []Option{WithBaseURL(s.srv.URL + "/openai/v1")}, "/openai/v1/embeddings", nil)
	check("explicit key", []Option{WithBaseURL(s.srv.URL), WithAPIKey("sk-opt")}, "/v1/embeddings", map[string]string{"Authorization": "Bearer sk-opt"})
	check("no key", []Option{WithBaseURL(s.srv.URL), WithAPIKey("")}, "/v1/embeddings", map[string]string{"Authorization": ""})
	check("Azure deployment", []Option{
		WithEndpoint(s.srv.URL + "/openai/deployments/emb/embeddings?api-version=2024-10-21"),
		WithAzureAPIKey("azure-key"),
	}, "/openai/deployments/emb/embeddings?api-version=2024-10-21", map[string]string{"Api-Key": "azure-key", "Authorization": ""})
	check("custom headers", []Option{WithBaseURL(s.srv.URL), WithHeader("OpenAI-Project", "proj_1")}, "/v1/embeddings",
		map[string]string{"Openai-Project": "proj_1"})
}

func TestDefaults(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "")
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "openai:text-embedding-3-small" || e.Dimension() != 0 {
		t.Errorf("Name() = %q, Dimension() = %d", e.Name(), e.Dimension())
	}
	if e.client.URL != "https://api.openai.com/v1/embeddings" || e.client.Concurrency() != DefaultConcurrency ||
		e.runner.Limits != (remoteLimits{MaxInputs: DefaultMaxInputs, MaxBytes: DefaultMaxRequestBytes, MaxTextBytes: DefaultMaxTextBytes}) {
		t.Errorf("defaults: %s, concurrency %d, limits %+v", e.client.URL, e.client.Concurrency(), e.runner.Limits)
	}
	if e.client.Header.Get("Authorization") != "" {
		t.Error("sent a key with OPENAI_API_KEY empty")
	}
}
