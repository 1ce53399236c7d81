package ollama_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// server is the in-process Ollama endpoint (POST /api/embed) the option examples talk to
// (no network beyond loopback). It embeds a text as [its byte length, its word count],
// padded with ones to the requested "dimensions", records every request, and lets an
// example script failures.
type server struct {
	*httptest.Server
	// fail, when set, may answer request n (counted from 0) with an error: a status, extra
	// headers and the error message. ok false answers normally.
	fail func(n int, inputs []string) (status int, header http.Header, msg string, ok bool)
	// hold keeps request 0 waiting until the client gives up on it.
	hold bool

	mu             sync.Mutex
	seen           []seen
	inflight, peak int
}

// seen is what the server received in one request.
type seen struct {
	Path       string
	Header     http.Header
	Model      string
	Inputs     []string
	Truncate   *bool
	KeepAlive  string
	Options    map[string]any
	Dimensions int
}

func startServer() *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model      string         `json:"model"`
		Input      []string       `json:"input"`
		Truncate   *bool          `json:"truncate"`
		KeepAlive  string         `json:"keep_alive"`
		Options    map[string]any `json:"options"`
		Dimensions int            `json:"dimensions"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	n := len(s.seen)
	s.seen = append(s.seen, seen{r.URL.Path, r.Header.Clone(), req.Model, req.Input, req.Truncate, req.KeepAlive, req.Options, req.Dimensions})
	s.inflight++
	s.peak = max(s.peak, s.inflight)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inflight--; s.mu.Unlock() }()

	time.Sleep(time.Millisecond) // a little latency, so concurrent requests overlap
	if s.hold && n == 0 {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if s.fail != nil {
		if status, h, msg, ok := s.fail(n, req.Input); ok {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":%q}`, msg)
			return
		}
	}
	dim := max(req.Dimensions, 2)
	embs := make([][]float32, len(req.Input))
	for i, in := range req.Input {
		v := make([]float32, dim)
		for j := range v {
			v[j] = 1
		}
		v[0], v[1] = float32(len(in)), float32(len(strings.Fields(in)))
		embs[i] = v
	}
	json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": embs})
}

// requests returns what the server received so far.
func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// maxInFlight returns the most requests the server was handling at once.
func (s *server) maxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// batchSizes returns the number of inputs of each request, sorted (requests run
// concurrently, so their order of arrival varies).
func (s *server) batchSizes() []int {
	var n []int
	for _, r := range s.requests() {
		n = append(n, len(r.Inputs))
	}
	slices.Sort(n)
	return n
}
