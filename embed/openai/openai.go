package openai

import (
	"context"
	"fmt"
	"os"

	"github.com/engram-go/engram/embed"
	"github.com/engram-go/engram/embed/internal/remote"
)

// Embedder embeds texts through an OpenAI-compatible embeddings endpoint. It is safe for
// concurrent use; all its Embed calls share one bound on requests in flight.
type Embedder struct {
	client   *remote.Client
	runner   *remote.Runner
	model    string
	encoding string
	dims     int // requested, 0 for the model's own
	name     string
}

// New returns an embedder configured by opts. It makes no request; an invalid option gives
// an *embed.OptionError (errors.Is(err, embed.ErrInvalidOption)).
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
	cfg.URL = cfg.endpointURL()
	switch {
	case cfg.azureKey != "":
		if err := cfg.SetHeader("WithAzureAPIKey", "api-key", cfg.azureKey); err != nil {
			return nil, err
		}
	case cfg.apiKey != nil:
		if *cfg.apiKey != "" {
			if err := cfg.SetHeader("WithAPIKey", "Authorization", "Bearer "+*cfg.apiKey); err != nil {
				return nil, err
			}
		}
	default:
		if key := os.Getenv("OPENAI_API_KEY"); key != "" {
			if err := cfg.SetHeader("OPENAI_API_KEY", "Authorization", "Bearer "+key); err != nil {
				return nil, err
			}
		}
	}
	client, runner, err := cfg.Build(classify)
	if err != nil {
		return nil, err
	}
	e := &Embedder{client: client, runner: runner, model: cfg.Model, dims: cfg.Dimensions}
	if cfg.base64 {
		e.encoding = "base64"
	}
	e.name = "openai:" + cfg.Model
	if cfg.Dimensions > 0 {
		e.name += fmt.Sprintf(";dim=%d", cfg.Dimensions)
	}
	runner.Send = e.send
	return e, nil
}

// Name identifies the embedder's vectors: "openai:MODEL", plus ";dim=N" with
// WithDimensions, e.g. "openai:text-embedding-3-small;dim=256". The server's address is
// not part of it: the same model behind another URL gives the same vectors.
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
	body, err := remote.MarshalJSON(request{Model: e.model, Input: texts, Dimensions: e.dims, EncodingFormat: e.encoding})
	if err != nil {
		return nil, &embed.Error{Embedder: "openai", Msg: "encoding the request", Err: err}
	}
	data, err := e.client.Post(ctx, body, maxResponse(len(texts)))
	if err != nil {
		return nil, err
	}
	vecs, why := decodeResponse(data, len(texts))
	if why != "" {
		return nil, &embed.Error{Embedder: "openai", Status: 200, Msg: why}
	}
	return vecs, nil
}
