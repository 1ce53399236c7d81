package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-go/engram/embed/hash"
)

// fakeServer implements POST /api/embed as Ollama's API documentation describes it:
// request {"model","input":[...],"truncate"?,"keep_alive"?,"options"?,"dimensions"?};
// answer {"model","embeddings":[[...],...],"total_duration","load_duration",
// "prompt_eval_count"}; errors {"error":"..."} with the HTTP status (400 bad request, 404
// unknown model, 429, 500, 502). It embeds a text as the hash embedder does, so that tests
// can check every vector.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	dim int

	mu     sync.Mutex
	reqs   []recorded
	answer func(n int, req request) (status int, header http.Header, body string, ok bool)

	inflight, peak atomic.Int64
	slow           time.Duration
	arrived        chan struct{}
}

type recorded struct {
	req    request
	raw    map[string]json.RawMessage
	header http.Header
	path   string
}

func newServer(t *testing.T, dim int) *fakeServer {
	t.Helper()
	s := &fakeServer{t: t, dim: dim}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	cur := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for p := s.peak.Load(); cur > p && !s.peak.CompareAndSwap(p, cur); p = s.peak.Load() {
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/embed" {
		writeError(w, 404, "404 page not found")
		return
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		writeError(w, 400, "invalid character looking for beginning of value")
		return
	}
	var req request
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &req); err != nil {
		writeError(w, 400, err.Error())
		return
	}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, recorded{req: req, raw: raw, header: r.Header.Clone(), path: r.URL.Path})
	answer := s.answer
	s.mu.Unlock()
	if s.arrived != nil {
		select {
		case s.arrived <- struct{}{}:
		default:
		}
	}
	if s.slow > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(s.slow):
		}
	}
	if answer != nil {
		if status, h, body, ok := answer(n, req); ok {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(status)
			w.Write([]byte(body))
			return
		}
	}
	if req.Model == "" {
		writeError(w, 400, "model is required")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write([]byte(s.success(req)))
}

func (s *fakeServer) success(req request) string {
	dim := s.dim
	if req.Dimensions > 0 {
		dim = req.Dimensions
	}
	rows := make([]string, len(req.Input))
	for i, in := range req.Input {
		rows[i] = encode(want(s.t, dim, in))
	}
	return fmt.Sprintf(`{"model":%q,"embeddings":[%s],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":%d}`,
		req.Model, strings.Join(rows, ","), len(req.Input))
}

func encode(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, msg)
}

func errorBody(msg string) string { return fmt.Sprintf(`{"error":%q}`, msg) }

// want is the vector the fake server gives text at dimension dim.
func want(t testing.TB, dim int, text string) []float32 {
	e, err := hash.New(hash.WithDimension(dim))
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		return make([]float32, dim)
	}
	return v[0]
}

func (s *fakeServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func (s *fakeServer) setAnswer(f func(n int, req request) (int, http.Header, string, bool)) {
	s.mu.Lock()
	s.answer = f
	s.mu.Unlock()
}

// clock is an injected sleeper recording the pauses asked for.
type clock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *clock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// withClock replaces the retry pauses by ck (which returns at once) and makes jitter 0.
func withClock(ck *clock) Option {
	return func(c *config) error {
		c.Policy.Sleep = func(ctx context.Context, d time.Duration) error {
			ck.mu.Lock()
			ck.sleeps = append(ck.sleeps, d)
			ck.mu.Unlock()
			return ctx.Err()
		}
		c.Policy.Jitter = func(int64) int64 { return 0 }
		return nil
	}
}

func (s *fakeServer) embedder(t *testing.T, ck *clock, opts ...Option) *Embedder {
	t.Helper()
	e, err := New(append([]Option{WithBaseURL(s.srv.URL), withClock(ck)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
