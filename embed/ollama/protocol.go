package ollama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/internal/remote"
)

// The wire format of POST /api/embed, from Ollama's API documentation.

type request struct {
	Model      string          `json:"model"`
	Input      []string        `json:"input"`
	Truncate   *bool           `json:"truncate,omitempty"`
	KeepAlive  string          `json:"keep_alive,omitempty"`
	Options    json.RawMessage `json:"options,omitempty"`
	Dimensions int             `json:"dimensions,omitempty"`
}

// response is {"model":"...","embeddings":[[...],...],"total_duration":...,
// "load_duration":...,"prompt_eval_count":...}.
type response struct {
	Embeddings []json.RawMessage `json:"embeddings"`
	Error      string            `json:"error"`
}

// maxResponse bounds an answer for n inputs: 256 KiB a vector is 16,384 dimensions at 16
// bytes a number.
func maxResponse(n int) int64 { return 1<<20 + int64(n)<<18 }

// decodeResponse turns a 200 answer for n inputs into n vectors, in input order, or
// describes what is wrong with it.
func decodeResponse(body []byte, n int) ([][]float32, string) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, "malformed JSON response: " + err.Error()
	}
	if r.Embeddings == nil {
		if r.Error != "" {
			return nil, "the server answered 200 with an error: " + r.Error
		}
		return nil, `response has no "embeddings" list`
	}
	if len(r.Embeddings) != n {
		return nil, fmt.Sprintf("response has %d embeddings for %d inputs", len(r.Embeddings), n)
	}
	out := make([][]float32, n)
	for i, raw := range r.Embeddings {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '[' {
			return nil, fmt.Sprintf("embedding %d is not an array of numbers", i)
		}
		v, why := remote.ParseFloats(raw)
		if why != "" {
			return nil, fmt.Sprintf("embedding %d: %s", i, why)
		}
		out[i] = v
	}
	return out, ""
}

// classify turns a non-2xx answer, {"error":"..."} with the status, into an error; the
// status decides retryability (429 and 5xx retry, Retry-After honoured).
func classify(status int, h http.Header, body []byte) *embed.Error {
	msg := remote.Snippet(body)
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
		if len(msg) > 500 {
			msg = remote.Snippet([]byte(msg))
		}
	}
	return &embed.Error{Status: status, Msg: msg, Retryable: remote.RetryableStatus(status)}
}
