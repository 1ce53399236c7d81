package ollama

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/internal/remote"
)

// Embedder embeds texts through an Ollama server's /api/embed endpoint. It is safe for
// concurrent use; all its Embed calls share one bound on requests in flight.
type Embedder struct {
	client    *remote.Client
	runner    *remote.Runner
	model     string
	truncate  *bool
	keepAlive string
	options   []byte
	dims      int
	name      string
}

// New returns an embedder configured by opts. It makes no request (the model is loaded by
// the server on first use); an invalid option gives an *embed.OptionError
// (errors.Is(err, embed.ErrInvalidOption)).
func New(opts ...Option) (*Embedder, error) {
	cfg := defaults()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.baseURL == "" {
		cfg.baseURL = DefaultBaseURL
		if h := os.Getenv("OLLAMA_HOST"); h != "" {
			u, why := remote.ParseBaseURL(hostURL(h))
			if why != "" {
				return nil, cfg.OptionError("OLLAMA_HOST", "%s", why)
			}
			cfg.baseURL = u
		}
	}
	cfg.URL = cfg.baseURL + "/api/embed"
	key := os.Getenv("OLLAMA_API_KEY")
	if cfg.apiKey != nil {
		key = *cfg.apiKey
	}
	if key != "" {
		if err := cfg.SetHeader("WithAPIKey", "Authorization", "Bearer "+key); err != nil {
			return nil, err
		}
	}
	client, runner, err := cfg.Build(classify)
	if err != nil {
		return nil, err
	}
	e := &Embedder{client: client, runner: runner, model: cfg.Model, truncate: cfg.truncate,
		options: cfg.options, dims: cfg.Dimensions}
	if cfg.keepAlive != nil {
		e.keepAlive = cfg.keepAlive.String()
	}
	e.name = "ollama:" + canonicalModel(cfg.Model)
	if cfg.Dimensions > 0 {
		e.name += fmt.Sprintf(";dim=%d", cfg.Dimensions)
	}
	runner.Send = e.send
	return e, nil
}

// canonicalModel adds Ollama's default tag, ":latest", to a model name without one.
func canonicalModel(m string) string {
	last := m[strings.LastIndexByte(m, '/')+1:]
	if !strings.Contains(last, ":") {
		return m + ":latest"
	}
	return m
}

// Name identifies the embedder's vectors: "ollama:MODEL:TAG", plus ";dim=N" with
// WithDimensions, e.g. "ollama:nomic-embed-text:latest". The server's address, truncation,
// keep-alive and model options are not part of it.
func (e *Embedder) Name() string { return e.name }

// Dimension returns the vectors' length: the one requested (WithDimensions) or declared
// (WithExpectedDimension), else the one the first successful answer had; 0 before that.
func (e *Embedder) Dimension() int { return e.runner.Dims.Get() }

// Embed returns one vector per text, in order, splitting the texts into requests as the
// package documentation describes. Texts that fail alone (empty, not UTF-8, too long,
// rejected by the server) are reported in an embed.TextErrors with the other vectors
// valid; a failure of the whole call is an *embed.Error (retryable or not) or the
// context's error.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.runner.Embed(ctx, texts)
}

// send makes one request.
func (e *Embedder) send(ctx context.Context, texts []string) ([][]float32, error) {
	body, err := remote.MarshalJSON(request{Model: e.model, Input: texts, Truncate: e.truncate,
		KeepAlive: e.keepAlive, Options: e.options, Dimensions: e.dims})
	if err != nil {
		return nil, &embed.Error{Embedder: "ollama", Msg: "encoding the request", Err: err}
	}
	data, err := e.client.Post(ctx, body, maxResponse(len(texts)))
	if err != nil {
		return nil, err
	}
	vecs, why := decodeResponse(data, len(texts))
	if why != "" {
		return nil, &embed.Error{Embedder: "ollama", Status: 200, Msg: why}
	}
	return vecs, nil
}
