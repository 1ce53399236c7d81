package openai

import (
	"net/http"
	"strings"
	"time"

	"github.com/engram-go/engram/embed/internal/remote"
)

// Defaults.
const (
	DefaultModel   = "text-embedding-3-small"
	DefaultBaseURL = "https://api.openai.com/v1"
	// DefaultMaxInputs is the API's limit on inputs per request ("any array must be 2048
	// dimensions or less").
	DefaultMaxInputs = 2048
	// DefaultMaxRequestBytes bounds the text of one request: OpenAI caps a request at
	// 300,000 tokens summed over its inputs, and a byte-level BPE token covers at least one
	// byte, so 300,000 bytes of text can never exceed it. (English runs about 4 bytes a
	// token, so this is a request of about 75,000 tokens.)
	DefaultMaxRequestBytes = 300_000
	// DefaultMaxTextBytes is generous: OpenAI's models take at most 8,192 tokens an input
	// (about 32 KiB of English) and reject longer ones; lower it to fail such texts without
	// a request.
	DefaultMaxTextBytes = 256 << 10
	DefaultConcurrency  = 4
	DefaultMaxRetries   = 4
	DefaultBaseDelay    = 500 * time.Millisecond
	DefaultMaxDelay     = 30 * time.Second
	DefaultIsolation    = 64
)

// Option configures an Embedder.
type Option func(*config) error

type config struct {
	remote.Settings
	baseURL  string
	endpoint string
	apiKey   *string
	azureKey string
	base64   bool
}

func defaults() config {
	return config{
		Settings: remote.Settings{
			Name:        "openai",
			Model:       DefaultModel,
			Limits:      remote.Limits{MaxInputs: DefaultMaxInputs, MaxBytes: DefaultMaxRequestBytes, MaxTextBytes: DefaultMaxTextBytes},
			Concurrency: DefaultConcurrency,
			Policy:      remote.Policy{MaxRetries: DefaultMaxRetries, BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay},
			Isolation:   DefaultIsolation,
		},
		baseURL: DefaultBaseURL,
	}
}

// endpointURL is where requests go: the endpoint if set, else {base}/embeddings when the
// base URL ends in /v1 (the OpenAI SDKs' convention, e.g. "http://localhost:8000/v1"),
// else {base}/v1/embeddings.
func (c *config) endpointURL() string {
	if c.endpoint != "" {
		return c.endpoint
	}
	if strings.HasSuffix(c.baseURL, "/v1") {
		return c.baseURL + "/embeddings"
	}
	return c.baseURL + "/v1/embeddings"
}

// WithModel sets the model (default DefaultModel). For an Azure deployment URL
// (WithEndpoint) the deployment picks the model and this name is only recorded in Name.
func WithModel(model string) Option {
	return func(c *config) error { return c.SetModel(model) }
}

// WithBaseURL sets the server: "https://api.openai.com/v1" (the default), or any
// OpenAI-compatible server such as vLLM ("http://localhost:8000/v1"), llama.cpp's server
// ("http://localhost:8080"), LocalAI, LM Studio ("http://localhost:1234/v1"), or Azure
// OpenAI's v1 API ("https://NAME.openai.azure.com/openai/v1"). Requests go to
// {base}/embeddings when the base ends in /v1, else to {base}/v1/embeddings.
func WithBaseURL(base string) Option {
	return func(c *config) error {
		u, why := remote.ParseBaseURL(base)
		if why != "" {
			return c.OptionError("WithBaseURL", "%s", why)
		}
		c.baseURL, c.endpoint = u, ""
		return nil
	}
}

// WithEndpoint sets the exact URL requests are posted to, query included: for Azure
// OpenAI deployments, "https://NAME.openai.azure.com/openai/deployments/DEPLOYMENT/embeddings?api-version=2024-10-21".
func WithEndpoint(url string) Option {
	return func(c *config) error {
		u, why := remote.ParseEndpoint(url)
		if why != "" {
			return c.OptionError("WithEndpoint", "%s", why)
		}
		c.endpoint = u
		return nil
	}
}

// WithAPIKey sets the key sent as "Authorization: Bearer KEY". Without this option the
// OPENAI_API_KEY environment variable is used when set; WithAPIKey("") sends no key (local
// servers usually need none).
func WithAPIKey(key string) Option {
	return func(c *config) error {
		if why := remote.CheckHeader("Authorization", key); why != "" {
			return c.OptionError("WithAPIKey", "the key holds a line break or NUL")
		}
		c.apiKey = &key
		return nil
	}
}

// WithAzureAPIKey sends key in Azure OpenAI's "api-key" header instead of a bearer token.
func WithAzureAPIKey(key string) Option {
	return func(c *config) error {
		if key == "" {
			return c.OptionError("WithAzureAPIKey", "empty key")
		}
		if why := remote.CheckHeader("api-key", key); why != "" {
			return c.OptionError("WithAzureAPIKey", "the key holds a line break or NUL")
		}
		c.azureKey = key
		return nil
	}
}

// WithHeader adds a header to every request, e.g. "OpenAI-Organization" or
// "OpenAI-Project", or a gateway's own authentication.
func WithHeader(name, value string) Option {
	return func(c *config) error { return c.SetHeader("WithHeader", name, value) }
}

// WithDimensions asks the server for vectors of n dimensions (the "dimensions" parameter,
// supported by text-embedding-3 models and some compatible servers) and checks that the
// answers have them. It is part of Name.
func WithDimensions(n int) Option {
	return func(c *config) error { return c.SetDimensions(n) }
}

// WithExpectedDimension declares the dimension the model returns without asking for it:
// Dimension reports it before the first call and every answer is checked against it.
// Without it (and without WithDimensions) the first answer sets the dimension.
func WithExpectedDimension(n int) Option {
	return func(c *config) error { return c.SetExpected(n) }
}

// WithBase64 asks for "encoding_format": "base64": each vector comes back as its
// little-endian float32 bytes in base64. For 1,536 dimensions that is 8,242 bytes a vector
// instead of 19,270, and decoding ran at 8,600 to 9,500 vectors/s instead of 3,100 to
// 3,800 (BenchmarkDecodeResponse). OpenAI and most compatible servers support it; the
// default is off (decimal numbers) because some servers do not.
func WithBase64(on bool) Option {
	return func(c *config) error {
		c.base64 = on
		return nil
	}
}

// WithMaxInputs sets the most texts per request (default DefaultMaxInputs). Larger calls
// are split into several requests, run concurrently.
func WithMaxInputs(n int) Option {
	return func(c *config) error { return c.SetMaxInputs(n) }
}

// WithMaxRequestBytes sets the most bytes of text per request (default
// DefaultMaxRequestBytes); a single text longer than this is sent alone.
func WithMaxRequestBytes(n int) Option {
	return func(c *config) error { return c.SetMaxRequestBytes(n) }
}

// WithMaxTextBytes sets the longest text sent (default DefaultMaxTextBytes); a longer text
// fails alone, permanently, without a request.
func WithMaxTextBytes(n int) Option {
	return func(c *config) error { return c.SetMaxTextBytes(n) }
}

// WithConcurrency bounds the requests in flight at once, across all concurrent Embed
// calls of the embedder (default DefaultConcurrency).
func WithConcurrency(n int) Option {
	return func(c *config) error { return c.SetConcurrency(n) }
}

// WithRetry sets the retries of a failed request (rate limited, server error, dropped
// connection, attempt timeout): at most maxRetries more attempts, after pauses drawn
// uniformly from [0, base·2^k) capped at maxDelay ("full jitter" exponential backoff), or
// after the server's Retry-After when it sends one. A server that asks for a pause longer
// than maxDelay gets its error returned at once, carrying the pause in RetryAfter. Default
// DefaultMaxRetries, DefaultBaseDelay, DefaultMaxDelay.
func WithRetry(maxRetries int, base, maxDelay time.Duration) Option {
	return func(c *config) error { return c.SetRetry(maxRetries, base, maxDelay) }
}

// WithRequestTimeout bounds each attempt; one that runs out is retried. The default, 0,
// leaves timeouts to the caller's context, which bounds the whole call.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetRequestTimeout(d) }
}

// WithIsolationBudget sets how many extra requests an Embed call may spend finding which
// texts the server rejected when it rejects a request of several (default
// DefaultIsolation; 0 fails the whole request's texts instead). See the package
// documentation.
func WithIsolationBudget(n int) Option {
	return func(c *config) error { return c.SetIsolation(n) }
}

// WithHTTPClient sets the HTTP client (its transport, proxy and TLS settings). Leave its
// Timeout zero: the caller's context and WithRequestTimeout bound requests.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) error { return c.SetHTTPClient(client) }
}
