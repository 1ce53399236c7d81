// Package ollama is an embedder for a local (or remote) Ollama server, through its batch
// endpoint POST /api/embed.
//
//	e, err := ollama.New(ollama.WithModel("nomic-embed-text"))
//	vecs, err := e.Embed(ctx, texts)
//
// The server is OLLAMA_HOST when set (as Ollama's own CLI reads it), else
// http://127.0.0.1:11434, or WithBaseURL. Pull the model first (`ollama pull
// nomic-embed-text`); an unknown model fails the call with the server's 404 message.
//
// # Protocol
//
// Each request is {"model", "input": [texts...]} plus, when set, "truncate"
// (WithTruncate), "keep_alive" (WithKeepAlive), "options" (WithModelOptions) and
// "dimensions" (WithDimensions); the answer's "embeddings" are in input order. Every answer
// is checked: as many embeddings as inputs, every vector of the same length (the requested
// or declared one, else the first answer's), every number a finite float32. Errors are
// {"error": "..."} with the HTTP status.
//
// # Batching, retries and failures
//
// The same machinery as package openai (they share it): texts packed in order into
// requests of at most 256 inputs and 1 MiB (WithMaxInputs, WithMaxRequestBytes), at most 2
// requests in flight across all calls (WithConcurrency); retries on 429 and 5xx, dropped
// connections and attempt timeouts with full-jitter exponential backoff or the server's
// Retry-After (WithRetry); bad texts fail alone without being sent; texts the server
// rejects with a 400 (with WithTruncate(false), inputs longer than the model's context)
// are isolated by bisection and fail alone, the others embedded; a permanent failure of
// the request itself (404 unknown model, a 400 that even a single short text gets, such as
// "does not support embeddings") fails the whole call; the context ending returns the
// context's error promptly. See package openai's documentation for the details, which
// apply here word for word.
package ollama
