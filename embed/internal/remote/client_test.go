package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-go/engram/embed"
)

// clock is an injected sleeper: it records the pauses asked for and returns at once.
type clock struct {
	mu     sync.Mutex
	sleeps []time.Duration
	now    time.Time
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// testClient returns a client for url whose jitter is the top of its range (n-1), so that
// pauses are exact.
func testClient(url string, ck *clock, retries int) *Client {
	return NewClient(Client{
		Name: "test",
		URL:  url,
		Policy: Policy{
			MaxRetries: retries, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second,
			Sleep:  ck.sleep,
			Jitter: func(n int64) int64 { return n - 1 },
			Now:    func() time.Time { return ck.now },
		},
	}, 4)
}

// script answers the i-th request with steps[i] (the last one repeats).
func script(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1) - 1)
		steps[min(i, len(steps)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"error":"status ` + http.StatusText(code) + `"}`))
	}
}

func ok(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }

func TestPostRetriesWithBackoff(t *testing.T) {
	srv, n := script(t, status(500), status(502), status(503), ok)
	ck := &clock{}
	body, err := testClient(srv.URL, ck, 5).Post(context.Background(), []byte(`{}`), 1<<20)
	if err != nil || string(body) != `{"ok":true}` {
		t.Fatalf("Post = %q, %v", body, err)
	}
	if n.Load() != 4 {
		t.Errorf("%d attempts, want 4", n.Load())
	}
	// Full jitter at the top of its range: just under 100ms, 200ms, 400ms.
	want := []time.Duration{100*time.Millisecond - 1, 200*time.Millisecond - 1, 400*time.Millisecond - 1}
	if got := ck.slept(); !equalDurations(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPostBackoffIsCapped(t *testing.T) {
	srv, _ := script(t, status(503))
	ck := &clock{}
	_, err := testClient(srv.URL, ck, 6).Post(context.Background(), []byte(`{}`), 1<<20)
	var ee *embed.Error
	if !errors.As(err, &ee) || !ee.Retryable || ee.Status != 503 || !strings.Contains(ee.Msg, "gave up after 7 attempts") {
		t.Fatalf("err = %v, want a retryable 503 after 7 attempts", err)
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		want[i] = want[i]*time.Millisecond - 1
	}
	if got := ck.slept(); !equalDurations(got, want) {
		t.Errorf("pauses %v, want %v", got, want)
	}
}

func TestPostFullJitterRange(t *testing.T) {
	p := Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for attempt := range 6 {
		ceil := min(100*time.Millisecond<<attempt, time.Second)
		for range 200 {
			d, ok := p.delay(attempt, 0)
			if !ok || d < 0 || d >= ceil {
				t.Fatalf("attempt %d: delay %v outside [0, %v)", attempt, d, ceil)
			}
		}
	}
}

func TestPostHonoursRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		header []string
		want   time.Duration
	}{
		{"seconds", []string{"Retry-After", "7"}, 7 * time.Second},
		{"HTTP-date", []string{"Retry-After", now.Add(3 * time.Second).Format(http.TimeFormat)}, 3 * time.Second},
		{"milliseconds", []string{"Retry-After-Ms", "250", "Retry-After", "9"}, 250 * time.Millisecond},
		{"date in the past", []string{"Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"garbage", []string{"Retry-After", "soon"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, n := script(t, status(429, c.header...), ok)
			ck := &clock{now: now}
			cl := testClient(srv.URL, ck, 3)
			cl.Policy.MaxDelay = 10 * time.Second
			cl.Policy.Jitter = func(int64) int64 { return 0 }
			if _, err := cl.Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
				t.Fatal(err)
			}
			if got := ck.slept(); n.Load() != 2 || len(got) != 1 || got[0] != c.want {
				t.Errorf("pauses %v after %d attempts, want [%v] after 2", got, n.Load(), c.want)
			}
		})
	}
}

func TestPostRetryAfterBeyondMaxDelay(t *testing.T) {
	srv, n := script(t, status(429, "Retry-After", "120"))
	ck := &clock{}
	_, err := testClient(srv.URL, ck, 3).Post(context.Background(), []byte(`{}`), 1<<20)
	var ee *embed.Error
	if !errors.As(err, &ee) || !ee.Retryable || ee.RetryAfter != 120*time.Second || ee.Status != 429 {
		t.Fatalf("err = %#v, want a retryable 429 carrying RetryAfter 2m", err)
	}
	if n.Load() != 1 || len(ck.slept()) != 0 {
		t.Errorf("%d attempts, pauses %v; want 1 and none", n.Load(), ck.slept())
	}
	if embed.RetryAfterOf(err) != 120*time.Second {
		t.Errorf("RetryAfterOf = %v", embed.RetryAfterOf(err))
	}
}

func TestPostDeadlineBeforeRetry(t *testing.T) {
	srv, n := script(t, status(503, "Retry-After", "5"))
	ck := &clock{now: time.Now()}
	ctx, cancel := context.WithDeadline(context.Background(), ck.now.Add(2*time.Second))
	defer cancel()
	cl := testClient(srv.URL, ck, 3)
	cl.Policy.MaxDelay = time.Minute
	_, err := cl.Post(ctx, []byte(`{}`), 1<<20)
	var ee *embed.Error
	if !errors.As(err, &ee) || !ee.Retryable || !strings.Contains(ee.Msg, "deadline") {
		t.Fatalf("err = %v, want the retryable 503 (the deadline comes first)", err)
	}
	if n.Load() != 1 || len(ck.slept()) != 0 {
		t.Errorf("%d attempts, pauses %v", n.Load(), ck.slept())
	}
}

func TestPostPermanentStatusesAreNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 413, 422, 501} {
		srv, n := script(t, status(code))
		_, err := testClient(srv.URL, &clock{}, 3).Post(context.Background(), []byte(`{}`), 1<<20)
		var ee *embed.Error
		if !errors.As(err, &ee) || ee.Retryable || ee.Status != code || ee.Embedder != "test" {
			t.Errorf("%d: err = %v, want a permanent error with the status", code, err)
		}
		if n.Load() != 1 {
			t.Errorf("%d: %d attempts", code, n.Load())
		}
		if !strings.Contains(ee.Msg, http.StatusText(code)) {
			t.Errorf("%d: message %q lacks the body", code, ee.Msg)
		}
	}
}

func TestPostAttemptTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, n := script(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, ok)
	ck := &clock{}
	cl := testClient(srv.URL, ck, 2)
	cl.RequestTimeout = 20 * time.Millisecond
	if _, err := cl.Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
		t.Fatalf("Post: %v", err)
	}
	if n.Load() != 2 || len(ck.slept()) != 1 {
		t.Errorf("%d attempts, pauses %v; want 2 and 1", n.Load(), ck.slept())
	}
}

func TestPostDroppedConnectionIsRetried(t *testing.T) {
	srv, n := script(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}, ok)
	if _, err := testClient(srv.URL, &clock{}, 2).Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
		t.Fatalf("Post: %v", err)
	}
	if n.Load() != 2 {
		t.Errorf("%d attempts", n.Load())
	}
	// Nothing listening: connection refused, retryable, retried until the budget is spent.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	ck := &clock{}
	_, err := testClient(url, ck, 2).Post(context.Background(), []byte(`{}`), 1<<20)
	if !embed.IsRetryable(err) || len(ck.slept()) != 2 {
		t.Errorf("err = %v after %d pauses, want retryable after 2", err, len(ck.slept()))
	}
}

func TestPostRejectedCertificateIsPermanent(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(ok))
	defer srv.Close()
	ck := &clock{}
	_, err := testClient(srv.URL, ck, 3).Post(context.Background(), []byte(`{}`), 1<<20)
	var ee *embed.Error
	if !errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.Msg, "certificate") {
		t.Fatalf("err = %v, want a permanent certificate error", err)
	}
	if len(ck.slept()) != 0 {
		t.Error("retried a rejected certificate")
	}
	// With the server's certificate trusted, it works.
	cl := testClient(srv.URL, ck, 3)
	cl.HTTP = srv.Client()
	if _, err := cl.Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
		t.Errorf("Post with a trusting client: %v", err)
	}
}

func TestPostResponseTooLarge(t *testing.T) {
	srv, _ := script(t, func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 5000)) })
	_, err := testClient(srv.URL, &clock{}, 3).Post(context.Background(), []byte(`{}`), 4096)
	var ee *embed.Error
	if !errors.As(err, &ee) || ee.Retryable || !strings.Contains(ee.Msg, "larger than 4096") {
		t.Errorf("err = %v", err)
	}
}

func TestPostSendsHeaders(t *testing.T) {
	var got http.Header
	srv, _ := script(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		ok(w, r)
	})
	cl := testClient(srv.URL, &clock{}, 0)
	cl.Header = http.Header{"Authorization": {"Bearer k"}, "X-Custom": {"v"}}
	if _, err := cl.Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Authorization": "Bearer k", "X-Custom": "v", "Content-Type": "application/json"} {
		if got.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
		}
	}
}

func TestPostCanceledWhileWaiting(t *testing.T) {
	srv, _ := script(t, status(503))
	ctx, cancel := context.WithCancel(context.Background())
	cl := testClient(srv.URL, &clock{}, 3)
	cl.Policy.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	if _, err := cl.Post(ctx, []byte(`{}`), 1<<20); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestPostRealSleepHonoursContext(t *testing.T) {
	p := Policy{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep(canceled) = %v", err)
	}
	if err := p.sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep = %v", err)
	}
}

func TestConcurrencyBoundAcrossCallers(t *testing.T) {
	var inflight, peak atomic.Int64
	gate := make(chan struct{})
	var open sync.Once // in flight reaches 3 again in later waves: the gate closes once
	srv, _ := script(t, func(w http.ResponseWriter, r *http.Request) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		if cur == 3 {
			open.Do(func() { close(gate) }) // the bound is reached: let everyone through
		}
		select {
		case <-gate:
		case <-time.After(2 * time.Second): // the bound was never reached; the test fails below
		}
		ok(w, r)
	})
	cl := testClient(srv.URL, &clock{}, 0)
	cl = NewClient(*cl, 3)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if _, err := cl.Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak.Load() != 3 {
		t.Errorf("peak requests in flight %d, want 3", peak.Load())
	}
}

func TestRetryableStatus(t *testing.T) {
	for code, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 408: true, 409: false,
		425: true, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true, 505: false, 529: true} {
		if RetryableStatus(code) != want {
			t.Errorf("RetryableStatus(%d) = %v", code, !want)
		}
	}
}

func TestSnippet(t *testing.T) {
	if got := Snippet([]byte("  line one\n\tline two  ")); got != "line one line two" {
		t.Errorf("Snippet = %q", got)
	}
	if got := Snippet(nil); got != "empty response body" {
		t.Errorf("Snippet(nil) = %q", got)
	}
	if got := Snippet([]byte(strings.Repeat("é", 400))); len(got) > 303+3 || !strings.HasSuffix(got, "...") {
		t.Errorf("long Snippet = %q", got)
	}
}

func TestDefaultTransportKeepsEnoughConnections(t *testing.T) {
	c := NewClient(Client{Name: "test", URL: "http://127.0.0.1:1"}, 8)
	tr, ok := c.HTTP.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport || tr.MaxIdleConnsPerHost != 8 || c.HTTP.Timeout != 0 {
		t.Errorf("default client %+v", c.HTTP)
	}
}

// Between bursts of requests (an Embed call's requests, then the next call's) every
// connection goes idle; they must all be kept for the next burst.
func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(ok))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewClient(Client{Name: "test", URL: srv.URL}, 4)
	for range 10 {
		var wg sync.WaitGroup
		var started sync.WaitGroup
		started.Add(4)
		for range 4 {
			wg.Go(func() {
				started.Done()
				started.Wait() // the four requests overlap
				if _, err := c.Post(context.Background(), []byte(`{}`), 1<<20); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		time.Sleep(time.Millisecond) // let the transport put the connections back
	}
	// With http.DefaultTransport, which keeps 2 idle connections a host, each burst after
	// the first dials again: 13 to 16 connections in three runs, against 4 with NewClient's.
	if n := conns.Load(); n > 8 {
		t.Errorf("%d connections for 10 bursts of 4 requests", n)
	}
	t.Logf("%d connections", conns.Load())
}
