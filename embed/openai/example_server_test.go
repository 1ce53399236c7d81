package openai_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// server is the in-process OpenAI-compatible endpoint the option examples talk to (no
// network beyond loopback). It embeds a text as [its byte length, its word count],
// padded with ones to the requested "dimensions", records every request, and lets an
// example script failures.
type server struct {
	*httptest.Server
	// fail, when set, may answer request n (counted from 0) with an error: a status, extra
	// headers and the error message. ok false answers normally.
	fail func(n int, inputs []string) (status int, header http.Header, msg string, ok bool)
	// hold keeps request 0 waiting until the client gives up on it.
	hold bool
	// dim is the vector length when the request names no "dimensions" (default 2).
	dim int

	mu             sync.Mutex
	seen           []seen
	inflight, peak int
}

// seen is what the server received in one request.
type seen struct {
	URL        string // path and query
	Header     http.Header
	Model      string
	Inputs     []string
	Dimensions int
	Encoding   string
}

func startServer() *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		Dimensions     int      `json:"dimensions"`
		EncodingFormat string   `json:"encoding_format"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	n := len(s.seen)
	s.seen = append(s.seen, seen{r.URL.RequestURI(), r.Header.Clone(), req.Model, req.Input, req.Dimensions, req.EncodingFormat})
	s.inflight++
	s.peak = max(s.peak, s.inflight)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inflight--; s.mu.Unlock() }()

	time.Sleep(time.Millisecond) // a little latency, so concurrent requests overlap
	if s.hold && n == 0 {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.fail != nil {
		if status, h, msg, ok := s.fail(n, req.Input); ok {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":null}}`, msg)
			return
		}
	}
	dim := orDefault(req.Dimensions, orDefault(s.dim, 2))
	type datum struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]datum, len(req.Input))
	for i, in := range req.Input {
		v := make([]float32, dim)
		for j := range v {
			v[j] = 1
		}
		v[0] = float32(len(in))
		if dim > 1 {
			v[1] = float32(len(strings.Fields(in)))
		}
		data[i] = datum{"embedding", i, v}
		if req.EncodingFormat == "base64" { // little-endian float32 bytes
			raw := make([]byte, 4*dim)
			for j, x := range v {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
			}
			data[i].Embedding = base64.StdEncoding.EncodeToString(raw)
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
}

// orDefault returns a, or b when a is zero.
func orDefault(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// requests returns what the server received so far.
func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
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

// maxInFlight returns the most requests the server was handling at once.
func (s *server) maxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
