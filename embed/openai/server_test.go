package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engram-go/engram/embed/hash"
	"github.com/engram-go/engram/embed/internal/remote"
)

// fakeServer implements POST /v1/embeddings as the OpenAI API reference documents it:
// request {"model","input":[...],"dimensions"?,"encoding_format"?}; answer
// {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...]}],"model",
// "usage"}; errors {"error":{"message","type","param","code"}} with the HTTP status. It
// lists the embeddings in reverse order (the index says which is which) and embeds a text
// as the hash embedder does, so tests can check every vector.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	dim int

	mu   sync.Mutex
	reqs []recorded
	// answer, when set, may replace the answer to request n (from 0): a status, headers
	// and a body. ok false means answer normally.
	answer func(n int, req request) (status int, header http.Header, body string, ok bool)

	inflight, peak atomic.Int64
	// slow delays every answer until the client gives up on it (or this long passes).
	slow    time.Duration
	arrived chan struct{} // when set, told of each request's arrival
}

type recorded struct {
	req    request
	header http.Header
	url    string
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
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/embeddings") {
		writeError(w, 404, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", "")
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "We could not parse the JSON body of your request.", "invalid_request_error", "")
		return
	}
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, recorded{req: req, header: r.Header.Clone(), url: r.URL.String()})
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
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
			return
		}
	}
	if len(req.Input) == 0 || len(req.Input) > 2048 {
		writeError(w, 400, "'input' must have 1 to 2048 items", "invalid_request_error", "input")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(s.success(req)))
}

// success renders the documented answer for req.
func (s *fakeServer) success(req request) string {
	dim := s.dim
	if req.Dimensions > 0 {
		dim = req.Dimensions
	}
	var b strings.Builder
	b.WriteString(`{"object":"list","data":[`)
	for i := len(req.Input) - 1; i >= 0; i-- {
		v := want(s.t, dim, req.Input[i])
		fmt.Fprintf(&b, `{"object":"embedding","index":%d,"embedding":%s}`, i, encode(v, req.EncodingFormat == "base64"))
		if i > 0 {
			b.WriteByte(',')
		}
	}
	fmt.Fprintf(&b, `],"model":%q,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, req.Model, len(req.Input), len(req.Input))
	return b.String()
}

func encode(v []float32, b64 bool) string {
	if b64 {
		raw := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		return strconv.Quote(base64.StdEncoding.EncodeToString(raw))
	}
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func writeError(w http.ResponseWriter, status int, msg, typ, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(errorBody(msg, typ, param, "null")))
}

func errorBody(msg, typ, param, code string) string {
	p := "null"
	if param != "" {
		p = strconv.Quote(param)
	}
	return fmt.Sprintf(`{"error":{"message":%q,"type":%q,"param":%s,"code":%s}}`, msg, typ, p, code)
}

// want is the vector the fake server gives text at dimension dim.
func want(t testing.TB, dim int, text string) []float32 {
	e, err := hash.New(hash.WithDimension(dim))
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		return make([]float32, dim) // a text the hash embedder cannot embed: zeros
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

// withClock replaces the retry pauses by ck (which returns at once) and makes jitter 0, so
// that pauses are exactly the server's hint or 0.
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
	all := append([]Option{WithBaseURL(s.srv.URL + "/v1"), WithAPIKey("sk-test"), withClock(ck)}, opts...)
	e, err := New(all...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type remoteLimits = remote.Limits
