package ollama

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/engram-go/engram/embed/internal/remote"
)

// Defaults.
const (
	// DefaultModel is the most used embedding model of the Ollama library (768
	// dimensions); pull it with `ollama pull nomic-embed-text`.
	DefaultModel   = "nomic-embed-text"
	DefaultBaseURL = "http://127.0.0.1:11434"
	// DefaultMaxInputs: Ollama embeds a request's inputs one batch at a time on one
	// model instance, so very large requests gain nothing and make a failure (or a
	// rejected text) costlier; 256 short texts keep a GPU busy.
	DefaultMaxInputs = 256
	// DefaultMaxRequestBytes bounds one request's text (1 MiB).
	DefaultMaxRequestBytes = 1 << 20
	// DefaultMaxTextBytes is the store's default content limit (1 MiB). Ollama truncates
	// inputs longer than the model's context by default (see WithTruncate).
	DefaultMaxTextBytes = 1 << 20
	// DefaultConcurrency: a local server runs OLLAMA_NUM_PARALLEL requests at once (1 to
	// 4 by default); 2 in flight keeps it busy while the next request is on the way.
	DefaultConcurrency = 2
	DefaultMaxRetries  = 4
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
	DefaultIsolation   = 64
)

// Option configures an Embedder.
type Option func(*config) error

type config struct {
	remote.Settings
	baseURL   string
	truncate  *bool
	keepAlive *time.Duration
	options   json.RawMessage
	apiKey    *string
}

func defaults() config {
	return config{
		Settings: remote.Settings{
			Name:        "ollama",
			Model:       DefaultModel,
			Limits:      remote.Limits{MaxInputs: DefaultMaxInputs, MaxBytes: DefaultMaxRequestBytes, MaxTextBytes: DefaultMaxTextBytes},
			Concurrency: DefaultConcurrency,
			Policy:      remote.Policy{MaxRetries: DefaultMaxRetries, BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay},
			Isolation:   DefaultIsolation,
		},
	}
}

// hostURL turns an OLLAMA_HOST value into a base URL the way Ollama's own client does:
// the scheme defaults to http, the host to 127.0.0.1 and the port to 11434 ("0.0.0.0",
// ":11500", "gpu-box" and "https://ollama.example.com" all work).
func hostURL(v string) string {
	v = strings.TrimSpace(v)
	scheme := "http"
	if s, rest, ok := strings.Cut(v, "://"); ok {
		scheme, v = s, rest
	}
	hostport, path, _ := strings.Cut(v, "/")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
		if scheme == "http" {
			port = "11434"
		}
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u := url.URL{Scheme: scheme, Host: host, Path: "/" + path}
	return strings.TrimRight(u.String(), "/")
}

// WithModel sets the model (default DefaultModel). A name without a tag means ":latest",
// as in Ollama, so "nomic-embed-text" and "nomic-embed-text:latest" are one embedder
// (same Name).
func WithModel(model string) Option {
	return func(c *config) error { return c.SetModel(model) }
}

// WithBaseURL sets the server (default: the OLLAMA_HOST environment variable when set,
// else DefaultBaseURL). Requests go to {base}/api/embed.
func WithBaseURL(base string) Option {
	return func(c *config) error {
		u, why := remote.ParseBaseURL(base)
		if why != "" {
			return c.OptionError("WithBaseURL", "%s", why)
		}
		c.baseURL = u
		return nil
	}
}

// WithAPIKey sets a key sent as "Authorization: Bearer KEY", for ollama.com's cloud API
// or a server behind an authenticating proxy. Without this option the OLLAMA_API_KEY
// environment variable is used when set.
func WithAPIKey(key string) Option {
	return func(c *config) error {
		if why := remote.CheckHeader("Authorization", key); why != "" {
			return c.OptionError("WithAPIKey", "the key holds a line break or NUL")
		}
		c.apiKey = &key
		return nil
	}
}

// WithHeader adds a header to every request.
func WithHeader(name, value string) Option {
	return func(c *config) error { return c.SetHeader("WithHeader", name, value) }
}

// WithTruncate sets the "truncate" parameter. Ollama's default (true) cuts inputs longer
// than the model's context to fit; false makes the server reject them (HTTP 400), and
// the embedder then fails those texts alone (see the package documentation).
func WithTruncate(on bool) Option {
	return func(c *config) error {
		c.truncate = &on
		return nil
	}
}

// WithKeepAlive sets how long the server keeps the model loaded after a request
// ("keep_alive"; Ollama's default is 5 minutes; negative keeps it loaded, 0 unloads it at
// once).
func WithKeepAlive(d time.Duration) Option {
	return func(c *config) error {
		c.keepAlive = &d
		return nil
	}
}

// WithModelOptions sets the "options" object: model parameters from the Modelfile
// documentation, such as {"num_ctx": 8192} or {"num_thread": 8}. It must marshal to a
// JSON object; nil sends none.
func WithModelOptions(options map[string]any) Option {
	return func(c *config) error {
		if options == nil {
			c.options = nil
			return nil
		}
		raw, err := json.Marshal(options)
		if err != nil {
			return c.OptionError("WithModelOptions", "%v", err)
		}
		c.options = raw
		return nil
	}
}

// WithDimensions asks the server for vectors of n dimensions ("dimensions", supported by
// recent Ollama versions for models trained for it, e.g. Matryoshka models) and checks
// that the answers have them. It is part of Name.
func WithDimensions(n int) Option {
	return func(c *config) error { return c.SetDimensions(n) }
}

// WithExpectedDimension declares the dimension the model returns without asking for it:
// Dimension reports it before the first call and every answer is checked against it.
// Without it (and without WithDimensions) the first answer sets the dimension.
func WithExpectedDimension(n int) Option {
	return func(c *config) error { return c.SetExpected(n) }
}

// WithMaxInputs sets the most texts per request (default DefaultMaxInputs).
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

// WithRetry sets the retries of a failed request (HTTP 429 or 5xx, dropped connection,
// attempt timeout): at most maxRetries more attempts, after pauses drawn uniformly from
// [0, base·2^k) capped at maxDelay, or after the server's Retry-After when it sends one.
// Default DefaultMaxRetries, DefaultBaseDelay, DefaultMaxDelay.
func WithRetry(maxRetries int, base, maxDelay time.Duration) Option {
	return func(c *config) error { return c.SetRetry(maxRetries, base, maxDelay) }
}

// WithRequestTimeout bounds each attempt; one that runs out is retried. The default, 0,
// leaves timeouts to the caller's context. (A first request may wait for the model to
// load, which can take many seconds.)
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error { return c.SetRequestTimeout(d) }
}

// WithIsolationBudget sets how many extra requests an Embed call may spend finding which
// texts the server rejected when it rejects a request of several (default
// DefaultIsolation; 0 fails the whole request's texts instead).
func WithIsolationBudget(n int) Option {
	return func(c *config) error { return c.SetIsolation(n) }
}

// WithHTTPClient sets the HTTP client (its transport, proxy and TLS settings). Leave its
// Timeout zero: the caller's context and WithRequestTimeout bound requests.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) error { return c.SetHTTPClient(client) }
}
