package ollama_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/ollama"
)

var ctx = context.Background()

// failedTexts returns the positions an Embed error reports as failed, sorted.
func failedTexts(err error) []int {
	var failed embed.TextErrors
	if !errors.As(err, &failed) {
		return nil
	}
	return slices.Sorted(maps.Keys(failed))
}

// WithAPIKey sends a bearer token, for ollama.com's cloud API or a server behind an
// authenticating proxy (a local Ollama needs none).
func ExampleWithAPIKey() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithAPIKey("ollama-secret"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Header.Get("Authorization"))
	// Output: Bearer ollama-secret
}

// WithBaseURL names the server (overriding OLLAMA_HOST); requests go to
// {base}/api/embed.
func ExampleWithBaseURL() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Path)
	_, err = ollama.New(ollama.WithBaseURL("gpu-box:11434/api")) // not an http(s) URL
	fmt.Println(errors.Is(err, embed.ErrInvalidOption))
	// Output:
	// /api/embed
	// true
}

// WithConcurrency bounds the requests in flight across all Embed calls of the
// embedder; match it to the server's OLLAMA_NUM_PARALLEL.
func ExampleWithConcurrency() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL),
		ollama.WithConcurrency(1), ollama.WithMaxInputs(1)) // one text a request, one at a time
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"a", "bb", "ccc", "dddd"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs), len(srv.requests()), "requests, at most", srv.maxInFlight(), "in flight")
	// Output: 4 4 requests, at most 1 in flight
}

// WithDimensions asks a model trained for it (Matryoshka) for shorter vectors; the
// dimension is part of Name.
func ExampleWithDimensions() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithDimensions(4))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"hello world"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Dimensions, vecs[0], e.Name())
	// Output: 4 [11 2 1 1] ollama:nomic-embed-text:latest;dim=4
}

// WithExpectedDimension declares the model's dimension: Dimension knows it before the
// first call, and an answer of another length is an error.
func ExampleWithExpectedDimension() {
	srv := startServer() // answers 2-dimensional vectors
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithExpectedDimension(768))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Dimension())
	_, err = e.Embed(ctx, []string{"hello"})
	fmt.Println(err != nil, embed.IsRetryable(err))
	// Output:
	// 768
	// true false
}

// WithHTTPClient supplies the transport (proxy, TLS, or a logging wrapper as here).
// Leave its Timeout zero: WithRequestTimeout and the context bound requests.
func ExampleWithHTTPClient() {
	srv := startServer()
	defer srv.Close()
	logging := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fmt.Println(r.Method, r.URL.Path)
		return http.DefaultTransport.RoundTrip(r)
	})}
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithHTTPClient(logging))
	if err != nil {
		log.Fatal(err)
	}
	vecs, _ := e.Embed(ctx, []string{"hello"})
	fmt.Println(vecs)
	// Output:
	// POST /api/embed
	// [[5 1]]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// WithHeader adds a header to every request, e.g. a proxy's own authentication.
func ExampleWithHeader() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithHeader("X-Team", "search"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Header.Get("X-Team"))
	// Output: search
}

// When the server refuses a request of several texts (say, with truncation off, one is
// over the model's context), the embedder spends up to the isolation budget in extra
// requests to find it, so the other texts still get their vectors. Budget 0 fails the
// whole request's texts instead.
func ExampleWithIsolationBudget() {
	srv := startServer()
	srv.fail = func(_ int, inputs []string) (int, http.Header, string, bool) {
		for _, in := range inputs {
			if len(in) > 20 {
				return http.StatusBadRequest, nil, "the input length exceeds the context length", true
			}
		}
		return 0, nil, "", false
	}
	defer srv.Close()
	texts := []string{"fine", "a text longer than the model's context", "also fine", "fine too"}
	for _, budget := range []int{ollama.DefaultIsolation, 0} {
		e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithTruncate(false),
			ollama.WithMaxInputs(2), ollama.WithIsolationBudget(budget))
		if err != nil {
			log.Fatal(err)
		}
		_, err = e.Embed(ctx, texts)
		fmt.Println("budget", budget, "failed texts", failedTexts(err))
	}
	// Output:
	// budget 64 failed texts [1]
	// budget 0 failed texts [0 1]
}

// WithKeepAlive tells Ollama how long to keep the model loaded after a request: longer
// for a steady stream of writes, 0 to free the GPU at once after a one-off import.
func ExampleWithKeepAlive() {
	srv := startServer()
	defer srv.Close()
	for _, d := range []time.Duration{30 * time.Minute, 0, -1} {
		e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithKeepAlive(d))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
			log.Fatal(err)
		}
	}
	e, _ := ollama.New(ollama.WithBaseURL(srv.URL)) // the server's default (5 minutes)
	e.Embed(ctx, []string{"hello"})
	for _, r := range srv.requests() {
		fmt.Printf("%q\n", r.KeepAlive)
	}
	// Output:
	// "30m0s"
	// "0s"
	// "-1ns"
	// ""
}

// WithMaxInputs caps the texts per request; a larger call is split into several
// requests.
func ExampleWithMaxInputs() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithMaxInputs(2))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"a", "b", "c", "d", "e"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs), srv.batchSizes())
	// Output: 5 [1 2 2]
}

// WithMaxRequestBytes caps the text per request; a text longer than the cap is sent
// alone.
func ExampleWithMaxRequestBytes() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithMaxRequestBytes(25))
	if err != nil {
		log.Fatal(err)
	}
	ten := "0123456789"
	vecs, err := e.Embed(ctx, []string{ten, ten, ten, ten, ten, strings.Repeat(ten, 4)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs), srv.batchSizes())
	// Output: 6 [1 1 2 2]
}

// WithMaxTextBytes fails over-long texts alone, permanently, without sending them.
func ExampleWithMaxTextBytes() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithMaxTextBytes(16))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"short", "a text over sixteen bytes"})
	fmt.Println(failedTexts(err), vecs[0], srv.batchSizes())
	// Output: [1] [5 1] [1]
}

// WithModel picks the model; a name without a tag means ":latest", as in Ollama, so
// both spellings are one embedder (one Name).
func ExampleWithModel() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithModel("mxbai-embed-large"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	tagged, _ := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithModel("mxbai-embed-large:latest"))
	fmt.Println(srv.requests()[0].Model, e.Name(), e.Name() == tagged.Name())
	// Output: mxbai-embed-large ollama:mxbai-embed-large:latest true
}

// WithModelOptions passes Modelfile parameters, e.g. a larger context window, in the
// request's "options" object. They do not change Name.
func ExampleWithModelOptions() {
	srv := startServer()
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL),
		ollama.WithModelOptions(map[string]any{"num_ctx": 8192}))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Options, e.Name())
	// Output: map[num_ctx:8192] ollama:nomic-embed-text:latest
}

// WithRequestTimeout bounds each attempt, so a stuck request is retried instead of
// using up the caller's deadline. Allow for the first request's model load.
func ExampleWithRequestTimeout() {
	srv := startServer()
	srv.hold = true // the first request never answers
	defer srv.Close()
	e, err := ollama.New(ollama.WithBaseURL(srv.URL),
		ollama.WithRequestTimeout(50*time.Millisecond),
		ollama.WithRetry(2, time.Millisecond, 10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"hello"})
	fmt.Println(vecs, err, len(srv.requests()), "attempts")
	// Output: [[5 1]] <nil> 2 attempts
}

// WithRetry sets how often and how patiently a failed request (HTTP 429 or 5xx, a
// dropped connection) is retried; with no retries left the error is returned,
// retryable, for the caller to decide.
func ExampleWithRetry() {
	srv := startServer()
	srv.fail = func(n int, _ []string) (int, http.Header, string, bool) {
		if n < 2 || n == 3 { // requests 0, 1 and 3: the server is busy
			return http.StatusServiceUnavailable, nil, "server busy, please try again", true
		}
		return 0, nil, "", false
	}
	defer srv.Close()
	patient, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithRetry(3, time.Millisecond, 10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := patient.Embed(ctx, []string{"hello"})
	fmt.Println(vecs, err, len(srv.requests()), "attempts")

	impatient, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	_, err = impatient.Embed(ctx, []string{"hello"})
	fmt.Println(embed.IsRetryable(err), len(srv.requests()), "attempts")
	// Output:
	// [[5 1]] <nil> 3 attempts
	// true 4 attempts
}

// WithTruncate(false) makes the server refuse texts longer than the model's context
// instead of silently cutting them; those texts then fail alone. The default sends no
// "truncate", leaving Ollama's own default (truncate).
func ExampleWithTruncate() {
	srv := startServer()
	defer srv.Close()
	strict, err := ollama.New(ollama.WithBaseURL(srv.URL), ollama.WithTruncate(false))
	if err != nil {
		log.Fatal(err)
	}
	strict.Embed(ctx, []string{"hello"})
	lenient, _ := ollama.New(ollama.WithBaseURL(srv.URL))
	lenient.Embed(ctx, []string{"hello"})
	for _, r := range srv.requests() {
		if r.Truncate == nil {
			fmt.Println("truncate: not sent")
		} else {
			fmt.Println("truncate:", *r.Truncate)
		}
	}
	// Output:
	// truncate: false
	// truncate: not sent
}

// Dimension is 0 until the first answer fixes it, unless WithDimensions or
// WithExpectedDimension declared it.
func ExampleEmbedder_Dimension() {
	srv := startServer()
	defer srv.Close()
	e, _ := ollama.New(ollama.WithBaseURL(srv.URL))
	fmt.Println(e.Dimension())
	e.Embed(ctx, []string{"hello"})
	fmt.Println(e.Dimension())
	// Output:
	// 0
	// 2
}

// Name identifies the vectors: model and tag (and a requested dimension), not the
// server, keep-alive or model options.
func ExampleEmbedder_Name() {
	a, _ := ollama.New(ollama.WithBaseURL("http://127.0.0.1:11434"))
	b, _ := ollama.New(ollama.WithBaseURL("http://gpu-box:11434"), ollama.WithKeepAlive(time.Hour))
	c, _ := ollama.New(ollama.WithBaseURL("http://127.0.0.1:11434"), ollama.WithModel("nomic-embed-text:v1.5"), ollama.WithDimensions(256))
	fmt.Println(a.Name(), a.Name() == b.Name(), c.Name())
	// Output: ollama:nomic-embed-text:latest true ollama:nomic-embed-text:v1.5;dim=256
}
