package openai_test

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
	"github.com/engram-go/engram/embed/openai"
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

// WithAPIKey sets the bearer token; it overrides OPENAI_API_KEY, and WithAPIKey("")
// sends no key at all, as local servers (vLLM, llama.cpp, LM Studio) usually want.
func ExampleWithAPIKey() {
	srv := startServer()
	defer srv.Close()
	for _, key := range []string{"sk-example", ""} {
		e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(key))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
			log.Fatal(err)
		}
	}
	for _, r := range srv.requests() {
		fmt.Printf("Authorization: %q\n", r.Header.Get("Authorization"))
	}
	// Output:
	// Authorization: "Bearer sk-example"
	// Authorization: ""
}

// WithAzureAPIKey sends the key the way Azure OpenAI wants it, in an "api-key"
// header, with no bearer token.
func ExampleWithAzureAPIKey() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(
		openai.WithEndpoint(srv.URL+"/openai/deployments/emb/embeddings?api-version=2024-10-21"),
		openai.WithAzureAPIKey("azure-secret"),
	)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	h := srv.requests()[0].Header
	fmt.Printf("api-key: %q, Authorization: %q\n", h.Get("Api-Key"), h.Get("Authorization"))
	// Output: api-key: "azure-secret", Authorization: ""
}

// WithBase64 has the vectors travel as base64 float32 bytes: less than half the bytes
// on the wire and faster to decode, for servers that support it. The vectors are the
// same.
func ExampleWithBase64() {
	srv := startServer()
	defer srv.Close()
	plain, _ := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""))
	b64, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithBase64(true))
	if err != nil {
		log.Fatal(err)
	}
	v1, _ := plain.Embed(ctx, []string{"Ada prefers tea"})
	v2, _ := b64.Embed(ctx, []string{"Ada prefers tea"})
	fmt.Printf("%q %q\n", srv.requests()[0].Encoding, srv.requests()[1].Encoding)
	fmt.Println(v1[0], v2[0])
	// Output:
	// "" "base64"
	// [15 3] [15 3]
}

// WithBaseURL points the embedder at any OpenAI-compatible server; requests go to
// {base}/embeddings when the base ends in /v1, else to {base}/v1/embeddings.
func ExampleWithBaseURL() {
	srv := startServer()
	defer srv.Close()
	for _, base := range []string{srv.URL + "/v1", srv.URL, srv.URL + "/gateway/openai/v1"} {
		e, err := openai.New(openai.WithBaseURL(base), openai.WithAPIKey(""))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
			log.Fatal(err)
		}
	}
	for _, r := range srv.requests() {
		fmt.Println(r.URL)
	}
	_, err := openai.New(openai.WithBaseURL("ftp://example.com"))
	fmt.Println(errors.Is(err, embed.ErrInvalidOption))
	// Output:
	// /v1/embeddings
	// /v1/embeddings
	// /gateway/openai/v1/embeddings
	// true
}

// WithConcurrency bounds the requests in flight across all Embed calls of the
// embedder: keep it low for a rate-limited key, raise it for a local server with
// spare capacity.
func ExampleWithConcurrency() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""),
		openai.WithConcurrency(1), openai.WithMaxInputs(1)) // one text a request, one at a time
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"a", "bb", "ccc", "dddd", "eeeee", "ffffff"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vecs), len(srv.requests()), "requests, at most", srv.maxInFlight(), "in flight")
	// Output: 6 6 requests, at most 1 in flight
}

// WithDimensions asks a text-embedding-3 model (or a compatible server) for shorter
// vectors: less memory per stored memory at a small loss of quality. The dimension is
// part of Name, so a space refuses vectors of another size.
func ExampleWithDimensions() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithDimensions(4))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"hello world"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Dimensions, vecs[0], e.Dimension(), e.Name())
	// Output: 4 [11 2 1 1] 4 openai:text-embedding-3-small;dim=4
}

// WithEndpoint sets the exact URL, query included, as an Azure OpenAI deployment
// needs (the deployment, not the model name, picks the model).
func ExampleWithEndpoint() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(
		openai.WithEndpoint(srv.URL+"/openai/deployments/emb-small/embeddings?api-version=2024-10-21"),
		openai.WithAzureAPIKey("azure-secret"),
	)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].URL)
	// Output: /openai/deployments/emb-small/embeddings?api-version=2024-10-21
}

// WithExpectedDimension declares what the model returns without asking for it:
// Dimension knows it before the first call (a space can be created with it), and an
// answer of another length is an error rather than a vector the space would refuse.
func ExampleWithExpectedDimension() {
	srv := startServer() // answers 2-dimensional vectors
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithExpectedDimension(3))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.Dimension())
	_, err = e.Embed(ctx, []string{"hello"})
	fmt.Println(err != nil, embed.IsRetryable(err))
	// Output:
	// 3
	// true false
}

// WithHTTPClient supplies the transport: a proxy, custom TLS roots, or, as here, a
// wrapper that logs each request. Leave the client's Timeout zero (use
// WithRequestTimeout and the context instead).
func ExampleWithHTTPClient() {
	srv := startServer()
	defer srv.Close()
	logging := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fmt.Println(r.Method, r.URL.Path)
		return http.DefaultTransport.RoundTrip(r)
	})}
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithHTTPClient(logging))
	if err != nil {
		log.Fatal(err)
	}
	vecs, _ := e.Embed(ctx, []string{"hello"})
	fmt.Println(vecs)
	// Output:
	// POST /v1/embeddings
	// [[5 1]]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// WithHeader adds a header to every request: OpenAI's organization or project, or a
// gateway's own authentication.
func ExampleWithHeader() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""),
		openai.WithHeader("OpenAI-Project", "proj_notes"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Header.Get("OpenAI-Project"))
	// Output: proj_notes
}

// When a server refuses a request of several texts without saying which one it
// objects to, the embedder spends extra requests (the isolation budget) finding it, so
// the other texts still get their vectors. A budget of 0 fails the whole request's
// texts instead.
func ExampleWithIsolationBudget() {
	srv := startServer()
	srv.fail = func(_ int, inputs []string) (int, http.Header, string, bool) {
		for _, in := range inputs {
			if strings.Contains(in, "forbidden") {
				return http.StatusBadRequest, nil, "the request was refused", true
			}
		}
		return 0, nil, "", false
	}
	defer srv.Close()
	texts := []string{"fine", "a forbidden text", "also fine", "fine too"}
	for _, budget := range []int{openai.DefaultIsolation, 0} {
		e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""),
			openai.WithMaxInputs(2), openai.WithIsolationBudget(budget))
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

// WithMaxInputs caps the texts per request, for servers with a lower limit than
// OpenAI's 2,048; a larger call is split into several requests.
func ExampleWithMaxInputs() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithMaxInputs(2))
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

// WithMaxRequestBytes caps the text per request, for servers that limit a request's
// size or tokens; a text longer than the cap is sent alone.
func ExampleWithMaxRequestBytes() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithMaxRequestBytes(25))
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

// WithMaxTextBytes fails over-long texts alone, permanently, without sending them:
// cheaper than a round trip the server would refuse.
func ExampleWithMaxTextBytes() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""), openai.WithMaxTextBytes(16))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"short", "a text over sixteen bytes"})
	fmt.Println(failedTexts(err), vecs[0], srv.batchSizes())
	// Output: [1] [5 1] [1]
}

// WithModel picks the model, which is sent in every request and is part of Name: a
// space records it and refuses vectors of another model.
func ExampleWithModel() {
	srv := startServer()
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""),
		openai.WithModel("text-embedding-3-large"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.requests()[0].Model, e.Name())
	// Output: text-embedding-3-large openai:text-embedding-3-large
}

// WithRequestTimeout bounds each attempt, so one stuck request is retried instead of
// using up the caller's whole deadline.
func ExampleWithRequestTimeout() {
	srv := startServer()
	srv.hold = true // the first request never answers
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""),
		openai.WithRequestTimeout(50*time.Millisecond),
		openai.WithRetry(2, time.Millisecond, 10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"hello"})
	fmt.Println(vecs, err, len(srv.requests()), "attempts")
	// Output: [[5 1]] <nil> 2 attempts
}

// WithRetry sets how often and how patiently a failed request (rate limit, server
// error, dropped connection) is retried. A server asking for a pause longer than the
// cap gets its error returned at once, with the pause in embed.RetryAfterOf.
func ExampleWithRetry() {
	srv := startServer()
	srv.fail = func(n int, _ []string) (int, http.Header, string, bool) {
		switch {
		case n < 2: // the first two requests: overloaded
			return http.StatusServiceUnavailable, nil, "overloaded", true
		case n == 3: // a rate limit asking for two minutes
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}, "slow down", true
		}
		return 0, nil, "", false
	}
	defer srv.Close()
	e, err := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""),
		openai.WithRetry(3, time.Millisecond, 10*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	vecs, err := e.Embed(ctx, []string{"hello"})
	fmt.Println(vecs, err, len(srv.requests()), "attempts")

	_, err = e.Embed(ctx, []string{"hello"})
	fmt.Println(embed.IsRetryable(err), embed.RetryAfterOf(err), len(srv.requests()), "attempts")
	// Output:
	// [[5 1]] <nil> 3 attempts
	// true 2m0s 4 attempts
}

// Dimension is 0 until the first answer fixes it, unless WithDimensions or
// WithExpectedDimension declared it up front.
func ExampleEmbedder_Dimension() {
	srv := startServer()
	defer srv.Close()
	e, _ := openai.New(openai.WithBaseURL(srv.URL), openai.WithAPIKey(""))
	fmt.Println(e.Dimension())
	e.Embed(ctx, []string{"hello"})
	fmt.Println(e.Dimension())
	// Output:
	// 0
	// 2
}

// Name identifies the vectors (model and requested dimension), not the server: the
// same model behind another URL gives the same vectors and the same name.
func ExampleEmbedder_Name() {
	a, _ := openai.New(openai.WithAPIKey(""))
	b, _ := openai.New(openai.WithAPIKey(""), openai.WithBaseURL("http://localhost:8000/v1"))
	c, _ := openai.New(openai.WithAPIKey(""), openai.WithDimensions(512))
	fmt.Println(a.Name(), a.Name() == b.Name(), c.Name())
	// Output: openai:text-embedding-3-small true openai:text-embedding-3-small;dim=512
}
