package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/internal/remote"
)

// The wire format of POST /v1/embeddings, from the OpenAI API reference.

type request struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format,omitempty"`
}

// response is {"object":"list","data":[{"object":"embedding","index":0,"embedding":[...]}],
// "model":"...","usage":{...}}; embedding is an array of numbers, or a base64 string with
// "encoding_format":"base64".
type response struct {
	Data  []datum         `json:"data"`
	Error json.RawMessage `json:"error"`
}

type datum struct {
	Index     *int            `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

// maxResponse bounds an answer for n inputs: 256 KiB a vector is 16,384 dimensions at 16
// bytes a number, beyond any embedding model's.
func maxResponse(n int) int64 { return 1<<20 + int64(n)<<18 }

// decodeResponse turns a 200 answer for n inputs into n vectors, in input order, or
// describes what is wrong with it.
func decodeResponse(body []byte, n int) ([][]float32, string) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, "malformed JSON response: " + err.Error()
	}
	if r.Data == nil {
		if len(r.Error) > 0 && !bytes.Equal(r.Error, []byte("null")) {
			return nil, "the server answered 200 with an error: " + describeError(body)
		}
		return nil, `response has no "data" list`
	}
	if len(r.Data) != n {
		return nil, fmt.Sprintf("response has %d embeddings for %d inputs", len(r.Data), n)
	}
	// Servers that omit "index" (a few compatible ones do) list the embeddings in input
	// order; otherwise the indexes must be a permutation of 0..n-1.
	withIndex := 0
	for _, d := range r.Data {
		if d.Index != nil {
			withIndex++
		}
	}
	if withIndex != 0 && withIndex != n {
		return nil, fmt.Sprintf(`%d of %d embeddings have an "index"`, withIndex, n)
	}
	out := make([][]float32, n)
	for k, d := range r.Data {
		i := k
		if d.Index != nil {
			i = *d.Index
			if i < 0 || i >= n {
				return nil, fmt.Sprintf("embedding index %d is outside 0..%d", i, n-1)
			}
			if out[i] != nil {
				return nil, fmt.Sprintf("embedding index %d appears twice", i)
			}
		}
		v, why := decodeEmbedding(d.Embedding)
		if why != "" {
			return nil, fmt.Sprintf("embedding %d: %s", i, why)
		}
		out[i] = v
	}
	return out, ""
}

func decodeEmbedding(raw json.RawMessage) ([]float32, string) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return nil, "missing"
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err.Error()
		}
		return remote.Base64Float32s(s)
	case raw[0] == '[':
		return remote.ParseFloats(raw)
	}
	return nil, "neither an array of numbers nor a base64 string"
}

// errorObject is the API's error body, {"error":{"message","type","param","code"}}; vLLM
// sends the same fields at the top level with "object":"error", and some servers send
// "error" as a plain string.
type errorObject struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func parseError(body []byte) (errorObject, bool) {
	var top struct {
		Error json.RawMessage `json:"error"`
		errorObject
	}
	if json.Unmarshal(body, &top) != nil {
		return errorObject{}, false
	}
	e := top.errorObject
	raw := bytes.TrimSpace(top.Error)
	switch {
	case len(raw) > 0 && raw[0] == '{':
		if json.Unmarshal(raw, &e) != nil {
			return errorObject{}, false
		}
	case len(raw) > 0 && raw[0] == '"':
		_ = json.Unmarshal(raw, &e.Message)
	}
	return e, e.Message != "" || e.Type != ""
}

// jsonText renders a scalar JSON value (a string or a number) as text, "" for null.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// describeError renders an error body for a message: the server's message with its type,
// code and param, or the body's start when it is not the API's error format.
func describeError(body []byte) string {
	e, ok := parseError(body)
	if !ok {
		return remote.Snippet(body)
	}
	var extra []string
	if e.Type != "" {
		extra = append(extra, "type "+e.Type)
	}
	if c := jsonText(e.Code); c != "" {
		extra = append(extra, "code "+c)
	}
	if p := jsonText(e.Param); p != "" {
		extra = append(extra, "param "+p)
	}
	msg := e.Message
	if len(msg) > 500 {
		msg = strings.ToValidUTF8(msg[:500], "") + "..."
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, ", ") + ")"
	}
	return msg
}

// classify turns a non-2xx answer into an error. The status decides retryability (429 and
// 5xx retry), except that a 429 whose type or code is "insufficient_quota" is permanent:
// the account is out of credit, and waiting does not help. The wait hint is Retry-After
// (or retry-after-ms) when sent; for a 429 without them, it is OpenAI's documented
// x-ratelimit-reset-requests / x-ratelimit-reset-tokens ("1s", "6m0s") of whichever limit
// reports nothing remaining.
func classify(status int, h http.Header, body []byte) *embed.Error {
	ee := &embed.Error{Status: status, Msg: describeError(body), Retryable: remote.RetryableStatus(status)}
	if status == http.StatusTooManyRequests {
		if e, ok := parseError(body); ok && (e.Type == "insufficient_quota" || jsonText(e.Code) == "insufficient_quota") {
			ee.Retryable = false
		}
		if ee.Retryable && h.Get("Retry-After") == "" && h.Get("Retry-After-Ms") == "" {
			ee.RetryAfter = rateLimitReset(h)
		}
	}
	return ee
}

func rateLimitReset(h http.Header) time.Duration {
	var wait time.Duration
	for _, limit := range []string{"requests", "tokens"} {
		if strings.TrimSpace(h.Get("X-Ratelimit-Remaining-"+limit)) != "0" {
			continue
		}
		if d, err := time.ParseDuration(strings.TrimSpace(h.Get("X-Ratelimit-Reset-" + limit))); err == nil && d > wait {
			wait = d
		}
	}
	return wait
}
